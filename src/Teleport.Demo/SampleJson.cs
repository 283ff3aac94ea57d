using System.Text.Encodings.Web;
using System.Text.Json;

namespace Teleport.Demo;

/// <summary>How the sample traffic's JSON is written, on both the client's and the upstream's side.</summary>
internal static class SampleJson
{
    /// <summary>
    /// JSON as bidders and shop APIs write it: '&lt;', '&quot;' and '&amp;' in ad markup and URLs stay as they are
    /// rather than becoming \u003C-style escapes (these bodies are never embedded in HTML).
    /// </summary>
    public static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
