using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;
using Teleport.Origin.Hosting;
using Teleport.Protocol.Security;

namespace Teleport.Origin.Security;

/// <summary>
/// Lets a call through only with "authorization: Bearer TOKEN" metadata naming one of the origin's tokens
/// (--token-file or TELEPORT_TOKEN). It runs before the service method, so a refused stream ends with
/// Unauthenticated before a single message of it is read.
/// </summary>
/// <remarks>
/// The token file is read again when its write time changes: adding or removing a token needs no restart.
/// Every kind of call is checked, not only the duplex Open, so a method added later is not left open.
/// </remarks>
internal sealed class TokenInterceptor : Interceptor
{
    private readonly string? _file;
    private readonly ILogger<TokenInterceptor> _logger;
    private readonly Lock _reload = new();
    private SharedTokens _tokens;
    private FileStamp _stamp;

    public TokenInterceptor(IOptions<OriginOptions> options, ILogger<TokenInterceptor> logger)
    {
        _file = options.Value.TokenFile;
        _logger = logger;
        _stamp = _file is null ? default : FileStamp.Of(_file);
        // The validator has read the same source by now (reading IOptions<OriginOptions>.Value ran it).
        _tokens = SharedTokens.TryLoad(_file, Environment.GetEnvironmentVariable, out var tokens, out var error)
            ? tokens
            : throw new InvalidOperationException(error);
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var presented = context.RequestHeaders.GetValue(SharedTokens.MetadataKey);
        if (CurrentTokens().Accepts(presented))
        {
            return;
        }

        var reason = presented is null ? "no authorization metadata (the edge has no --token-file or TELEPORT_TOKEN)" : "wrong token";
        OriginSecurityLog.StreamUnauthenticated(_logger, context.Peer, reason);
        // The same answer for a missing and a wrong token: the peer learns nothing about the tokens.
        throw new RpcException(new Status(StatusCode.Unauthenticated, "missing or wrong bearer token"));
    }

    private SharedTokens CurrentTokens()
    {
        if (_file is null)
        {
            return _tokens;
        }

        var stamp = FileStamp.Of(_file);
        lock (_reload)
        {
            if (stamp != _stamp)
            {
                _stamp = stamp;
                if (SharedTokens.TryLoad(_file, Environment.GetEnvironmentVariable, out var tokens, out var error))
                {
                    _tokens = tokens;
                }
                else
                {
                    OriginSecurityLog.TokensReloadFailed(_logger, error);
                }
            }

            return _tokens;
        }
    }
}
