namespace Orchestrator.Client;

/// <summary>
/// A read-only stream over another that calls <c>onRead</c> each time bytes arrive: the SSE parser
/// passes over comments (the API's keep-alives), so only the bytes themselves show that a quiet
/// stream is still alive.
/// </summary>
internal sealed class ActivityStream(Stream inner, Action onRead) : ReadOnlyWrapperStream(inner)
{
    // Pooled: a read that waits for the network (most of a quiet stream's) allocated its state machine
    // each time; the worker reads every provider's streamed answer through this, ~100 reads a call.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read > 0)
        {
            onRead();
        }

        return read;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var read = Inner.Read(buffer, offset, count);
        if (read > 0)
        {
            onRead();
        }

        return read;
    }

    public override async ValueTask DisposeAsync()
    {
        await Inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
