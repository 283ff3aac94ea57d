using Teleport.Protocol.Hosting;

namespace Teleport.Origin.Hosting;

internal static class Program
{
    public static Task<int> Main(string[] args) => ServiceHost.RunAsync(OriginApp.Definition, args, static args => OriginApp.Build(args));
}
