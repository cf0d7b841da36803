namespace Orchestrator.Worker.Llm;

/// <summary>
/// A response body read within bounds (<see cref="BoundedBodyPolicy"/>): at most <c>totalBytes</c>
/// in all (then it ends, or <c>refuse</c> is thrown) and at most <c>lineBytes</c> between two line
/// ends (then <c>refuse</c> is thrown); a read given no token of its own reads on the call's.
/// </summary>
internal sealed class BoundedBodyStream(Stream inner, CancellationToken call, long? totalBytes, long? lineBytes, Func<long, Exception>? refuse)
    : Orchestrator.Client.ReadOnlyWrapperStream(inner)
{
    private long _read;
    private long _line;

    // Pooled, as ActivityStream's: every read of every provider's streamed answer comes through here.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var room = Room(buffer.Length);
        if (room == 0 && buffer.Length > 0)
        {
            return 0;
        }

        var read = await Inner.ReadAsync(buffer[..room], cancellationToken.CanBeCanceled ? cancellationToken : call).ConfigureAwait(false);
        return Count(buffer.Span, read);
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var room = Room(count);
        if (room == 0 && count > 0)
        {
            return 0;
        }

        return Count(buffer.AsSpan(offset, count), Inner.Read(buffer, offset, room));
    }

    /// <summary>How much the next read may take: 0 once <c>totalBytes</c> are read (the body ends there, unless refused).</summary>
    private int Room(int asked)
    {
        if (totalBytes is not { } total)
        {
            return asked;
        }

        var left = total - _read;
        if (left > 0)
        {
            return (int)Math.Min(asked, left);
        }

        return refuse is null ? 0 : throw refuse(total);
    }

    private int Count(ReadOnlySpan<byte> buffer, int read)
    {
        _read += read;
        if (lineBytes is { } most)
        {
            // Every line this read ends, and the one it leaves open: a whole long line may come in one read.
            var rest = buffer[..read];
            for (var end = rest.IndexOf((byte)'\n'); end >= 0; end = rest.IndexOf((byte)'\n'))
            {
                if (_line + end > most)
                {
                    throw refuse!(most);
                }

                _line = 0;
                rest = rest[(end + 1)..];
            }

            if ((_line += rest.Length) > most)
            {
                throw refuse!(most);
            }
        }

        return read;
    }
}
