using Teleport.Protocol.Diagnostics;

namespace Teleport.Demo.Load;

/// <summary>What a load run saw from the client's side.</summary>
/// <param name="Failed">Requests that failed or got a wrong answer.</param>
/// <param name="FailureSamples">The first few failures, one line each.</param>
/// <param name="Elapsed">Wall time from the first request to the last answer.</param>
/// <param name="Plain">The client's connections to the edge: TCP connections and payload bytes each way.</param>
internal sealed record LoadResult(int Failed, IReadOnlyList<string> FailureSamples, TimeSpan Elapsed, TunnelCounters Plain);
