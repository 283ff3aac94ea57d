using System.Reflection;
using Microsoft.Net.Http.Headers;
using Teleport.Protocol.Http;

namespace Teleport.Tests.Http;

public sealed class ContentHeadersTests
{
    [Theory]
    [InlineData("Allow")]
    [InlineData("Content-Disposition")]
    [InlineData("Content-Encoding")]
    [InlineData("Content-Language")]
    [InlineData("Content-Length")]
    [InlineData("Content-Location")]
    [InlineData("Content-MD5")]
    [InlineData("Content-Range")]
    [InlineData("Content-Type")]
    [InlineData("Expires")]
    [InlineData("Last-Modified")]
    [InlineData("content-type")]
    [InlineData("CONTENT-LENGTH")]
    public void IsContentHeader_ContentField_True(string name)
        => Assert.True(ContentHeaders.IsContentHeader(name));

    [Theory]
    [InlineData("Host")]
    [InlineData("Accept")]
    [InlineData("Content-Id")]
    [InlineData("Content-Security-Policy")]
    [InlineData("Content-Type-Options")]
    [InlineData("ETag")]
    [InlineData("")]
    public void IsContentHeader_OtherField_False(string name)
        => Assert.False(ContentHeaders.IsContentHeader(name));

    [Fact]
    public void IsContentHeader_EveryKnownFieldName_MatchesWhatHttpRequestMessageRefuses()
    {
        // HttpRequestMessage.Headers refuses exactly the fields HttpClient keeps on HttpContent;
        // whatever ASP.NET Core knows by name must be sorted the same way here.
        var names = typeof(HeaderNames).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(string))
            .Select(f => (string)f.GetValue(null)!)
            .Where(n => !n.StartsWith(':'))
            .ToArray();
        Assert.NotEmpty(names);

        var mismatched = names
            .Where(n => ContentHeaders.IsContentHeader(n) == new HttpRequestMessage().Headers.TryAddWithoutValidation(n, "x"))
            .ToArray();

        Assert.Empty(mismatched);
    }
}
