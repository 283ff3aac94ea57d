using System.Net;
using Teleport.DelayRelay;

// delay-relay LISTEN TARGET DELAY_MS
//   Accepts TCP on LISTEN (ip:port), connects each client to TARGET (ip:port) and forwards every chunk
//   DELAY_MS after it arrived, in both directions: a round trip through the relay gains 2 x DELAY_MS.
//   Stands in for netem's delay, which this kernel lacks (bench/link/link-bench.sh).
if (args.Length != 3 || !IPEndPoint.TryParse(args[0], out var listen) || !IPEndPoint.TryParse(args[1], out var target)
    || !int.TryParse(args[2], out var delayMs) || delayMs < 0)
{
    Console.Error.WriteLine("usage: delay-relay LISTEN_IP:PORT TARGET_IP:PORT ONE_WAY_DELAY_MS");
    return 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();
var relay = new Relay(listen, target, TimeSpan.FromMilliseconds(delayMs));
Console.WriteLine($"delay-relay {listen} -> {target}, {delayMs} ms each way");
try
{
    await relay.RunAsync(stop.Token);
}
catch (OperationCanceledException)
{
}

return 0;
