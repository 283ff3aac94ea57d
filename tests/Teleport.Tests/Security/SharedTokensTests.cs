using Teleport.Protocol.Security;

namespace Teleport.Tests.Security;

public sealed class SharedTokensTests : IDisposable
{
    private const string Token1 = "first-token-0123456789";
    private const string Token2 = "second-token-0123456789";

    private readonly string _file = Path.GetTempFileName();

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void Accepts_EveryTokenOfTheFile_AndNothingElse()
    {
        File.WriteAllText(_file, $"# current and next\r\n{Token1}\r\n\r\n  {Token2}  \n");
        Assert.True(SharedTokens.TryLoad(_file, NoVariables, out var tokens, out var error), error);

        Assert.True(tokens.Accepts("Bearer " + Token1));
        Assert.True(tokens.Accepts("bearer " + Token2));
        Assert.False(tokens.Accepts(null));
        Assert.False(tokens.Accepts(Token1));                       // no scheme
        Assert.False(tokens.Accepts("Basic " + Token1));
        Assert.False(tokens.Accepts("Bearer " + Token1[..^1]));     // a prefix
        Assert.False(tokens.Accepts("Bearer " + Token1 + "x"));
        Assert.False(tokens.Accepts("Bearer # current and next"));
        Assert.Equal("Bearer " + Token1, tokens.AuthorizationValue);
    }

    [Fact]
    public void TryLoad_NoFile_ReadsTheVariable()
    {
        Assert.False(SharedTokens.Configured(null, NoVariables));
        Assert.True(SharedTokens.Configured(null, Variable(Token2)));
        Assert.True(SharedTokens.TryLoad(null, Variable(Token2), out var tokens, out var error), error);

        Assert.Equal(Token2, tokens.First);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n\n")]
    [InlineData("short")]
    [InlineData("a token with spaces inside")]
    public void TryLoad_UnusableFile_SaysWhy(string text)
    {
        File.WriteAllText(_file, text);

        Assert.False(SharedTokens.TryLoad(_file, NoVariables, out _, out var error));
        Assert.StartsWith($"--token-file '{_file}'", error);
    }

    [Fact]
    public void TryLoad_MissingFile_SaysItCannotBeRead()
    {
        Assert.False(SharedTokens.TryLoad(_file + ".missing", NoVariables, out _, out var error));
        Assert.Contains("cannot be read", error);
    }

    private static string? NoVariables(string name) => null;

    private static Func<string, string?> Variable(string value) => name => name == SharedTokens.EnvironmentVariable ? value : null;
}
