using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Tells the call's <see cref="StreamIdleTimer"/> of every read of a streamed answer's bytes, in each
/// provider client's pipeline. The SDK's reader hands on only events: a provider that keeps a slow
/// answer alive with comment lines (<c>: OPENROUTER PROCESSING</c> every second while a model thinks)
/// read as silent, and was cut at <c>Llm:StreamIdleTimeout</c> as one that "sent nothing", each
/// attempt bought again. Bytes, not events, are what a hung provider stops sending.
/// </summary>
internal sealed class StreamActivityPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Watch(message);
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        Watch(message);
    }

    // A streamed call's response is not buffered by the SDK; the timer is the calling flow's.
    private static void Watch(PipelineMessage message)
    {
        if (!message.BufferResponse && message.Response is { IsError: false, ContentStream: { } stream } response
            && StreamIdleTimer.Current is { } idle)
        {
            response.ContentStream = new WatchedStream(stream, idle);
        }
    }

    /// <summary>The response's stream as it came, noting each read that brought bytes.</summary>
    private sealed class WatchedStream(Stream inner, StreamIdleTimer idle) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Heard(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Heard(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Heard(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken).ConfigureAwait(false));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Heard(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private int Heard(int read)
        {
            if (read > 0)
            {
                idle.Received();
            }

            return read;
        }
    }
}
