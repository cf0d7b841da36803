using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Reads a successful streamed call's body through <see cref="ProviderEventStream"/>, outermost in
/// each provider client's pipeline: after <see cref="NonStreamedAnswerPolicy"/> has made a JSON
/// answer the stream it stands for, so both forms have their error events and finish reasons read.
/// </summary>
internal sealed class ProviderEventPolicy : ResponsePolicy
{
    /// <inheritdoc />
    protected override void OnResponse(PipelineMessage message)
    {
        if (!message.BufferResponse && message.Response is { IsError: false, ContentStream: { } stream } response)
        {
            response.ContentStream = new ProviderEventStream(stream);
        }
    }
}
