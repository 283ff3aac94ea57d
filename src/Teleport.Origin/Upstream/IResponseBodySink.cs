using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin.Upstream;

/// <summary>Where a streamed response goes: the exchange's tunnel stream, under the window the edge grants.</summary>
internal interface IResponseBodySink
{
    /// <summary>Largest streamed body passed on (--max-response-body-size): chunks need no room in one message, unlike a whole body.</summary>
    int MaxBodyBytes { get; }

    /// <summary>Waits until the edge lets at least one more body byte go; returns how many may go now.</summary>
    ValueTask<int> WaitForWindowAsync(CancellationToken cancellationToken);

    /// <summary>Sends the head or a chunk carrying <paramref name="bodyBytes"/> bytes of body (counted against the window).</summary>
    ValueTask SendAsync(OutgoingItem<OriginItem> item, int bodyBytes);

    /// <summary>The head is out: from now on the exchange lasts as long as its body does, not the request timeout.</summary>
    void HeadSent(uint status);
}
