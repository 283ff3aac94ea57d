using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Teleport.Tests.TestSupport;

/// <summary>
/// Sees chosen arrays go back to <see cref="System.Buffers.ArrayPool{T}.Shared"/>, through the
/// runtime's own ArrayPoolEventSource: the shared pool offers no other way to watch a return.
/// </summary>
/// <remarks>
/// Events reach an in-process listener synchronously on the returning thread, so once the code that
/// returns an array has run, <see cref="WasReturned"/> says so. Arrays are told apart by identity hash
/// and length, which is what the event carries.
/// </remarks>
internal sealed class PoolReturnListener : EventListener
{
    private const string SourceName = "System.Buffers.ArrayPoolEventSource";
    private const string BufferReturned = "BufferReturned";

    // Field initializers run before the base constructor, which may already report event sources.
    private readonly ConcurrentDictionary<(int Id, int Length), byte> _watched = new();
    private readonly ConcurrentDictionary<(int Id, int Length), byte> _returned = new();

    public void Watch(byte[] array) => _watched.TryAdd(Key(array), 0);

    public bool WasReturned(byte[] array) => _returned.ContainsKey(Key(array));

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == SourceName)
        {
            EnableEvents(eventSource, EventLevel.Verbose);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (eventData.EventName == BufferReturned
            && eventData.Payload is [int id, int length, ..]
            && _watched.ContainsKey((id, length)))
        {
            _returned.TryAdd((id, length), 0);
        }
    }

    private static (int, int) Key(byte[] array) => (array.GetHashCode(), array.Length);
}
