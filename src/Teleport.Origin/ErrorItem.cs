using Teleport.Protocol.Framing;
using Teleport.Protocol.V1;

namespace Teleport.Origin;

/// <summary>Builds the answer for an exchange that failed before a response could be given.</summary>
internal static class ErrorItem
{
    public static OutgoingItem<OriginItem> Create(ulong id, ErrorCode code, string message)
        => new(new OriginItem { ExchangeId = id, Error = new ExchangeError { Code = code, Message = message } }, 64 + message.Length);
}
