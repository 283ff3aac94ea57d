using Teleport.Protocol.Hosting;

namespace Teleport.Tests.Hosting;

public sealed class ValueSyntaxTests
{
    [Theory]
    [InlineData("30s", "00:00:30")]
    [InlineData("500ms", "00:00:00.5000000")]
    [InlineData("2m", "00:02:00")]
    [InlineData("1h", "01:00:00")]
    [InlineData("36h", "1.12:00:00")]
    [InlineData("1.5s", "00:00:01.5000000")]
    [InlineData("0s", "00:00:00")]
    [InlineData(" 10 s ", "00:00:10")]
    public void Normalize_Duration_ReturnsTimeSpanText(string value, string expected)
        => Assert.Equal(expected, ValueSyntax.Normalize(value));

    [Theory]
    [InlineData("10B", "10")]
    [InlineData("64KiB", "65536")]
    [InlineData("16MiB", "16777216")]
    [InlineData("1GiB", "1073741824")]
    [InlineData("4k", "4096")]
    [InlineData("4K", "4096")]
    [InlineData("1KB", "1000")]
    [InlineData("2MB", "2000000")]
    [InlineData("1GB", "1000000000")]
    [InlineData("1.5MiB", "1572864")]
    [InlineData("0B", "0")]
    [InlineData(" 8 MiB ", "8388608")]
    public void Normalize_Size_ReturnsByteCount(string value, string expected)
        => Assert.Equal(expected, ValueSyntax.Normalize(value));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("30")]
    [InlineData("-1s")]
    [InlineData("1,5s")]
    [InlineData(".5s")]
    [InlineData("5 sec")]
    [InlineData("1d")]
    [InlineData("s")]
    [InlineData("16 MiB/s")]
    [InlineData("http://127.0.0.1:8080")]
    [InlineData("true")]
    [InlineData("Gzip")]
    [InlineData("300000000h")]
    public void Normalize_NeitherDurationNorSize_ReturnsNull(string? value)
        => Assert.Null(ValueSyntax.Normalize(value));

    [Fact]
    public void Normalize_LongerThan32Chars_ReturnsNull()
        => Assert.Null(ValueSyntax.Normalize(new string(' ', 30) + "30s"));
}
