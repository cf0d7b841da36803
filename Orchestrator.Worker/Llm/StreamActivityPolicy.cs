using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Tells the call's <see cref="StreamIdleTimer"/> of every read of a streamed answer's bytes, in each
/// provider client's pipeline. The SDK's reader hands on only events: a provider that keeps a slow
/// answer alive with comment lines (<c>: OPENROUTER PROCESSING</c> every second while a model thinks)
/// read as silent, and was cut at <c>Llm:StreamIdleTimeout</c> as one that "sent nothing", each
/// attempt bought again. Bytes, not events, are what a hung provider stops sending.
/// </summary>
internal sealed class StreamActivityPolicy : ResponsePolicy
{
    /// <inheritdoc />
    protected override void OnResponse(PipelineMessage message)
    {
        // A streamed call's response is not buffered by the SDK; the timer is the calling flow's.
        if (StreamIdleTimer.Current is not { } idle || message.Response is not { } response)
        {
            return;
        }

        // Its headers are whole: a silence from here on comes before the answer's first chunk.
        idle.Responded = true;
        if (!message.BufferResponse && response is { IsError: false, ContentStream: { } stream })
        {
            response.ContentStream = new Orchestrator.Client.ActivityStream(stream, idle.Received);
            if (response.Headers.TryGetValue("Content-Type", out var type) && type is not null
                && !type.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                idle.NotAStream = type;
            }
        }
    }
}
