namespace Teleport.Demo.Load;

/// <summary>One request of the demo's traffic, prepared before the clock starts.</summary>
/// <param name="Method">GET or POST.</param>
/// <param name="PathAndQuery">Target in origin form, e.g. "/api/items/42?locale=de-DE".</param>
/// <param name="Headers">Request header fields in the order sent, Content-Type excluded.</param>
/// <param name="Body">JSON body, or null for none.</param>
/// <param name="RequestId">Sent as X-Request-Id; the upstream echoes it.</param>
/// <param name="ExpectedId">The "id" the response body must carry: the bid request's id, or the item id.</param>
internal sealed record SampleRequest(
    string Method,
    string PathAndQuery,
    KeyValuePair<string, string>[] Headers,
    byte[]? Body,
    string RequestId,
    string ExpectedId);
