using Teleport.Protocol.Hosting;

namespace Teleport.Edge.Hosting;

internal static class Program
{
    public static Task<int> Main(string[] args) => ServiceHost.RunAsync(EdgeApp.Definition, args, static args => EdgeApp.Build(args));
}
