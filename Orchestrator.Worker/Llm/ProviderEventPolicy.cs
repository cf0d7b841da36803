using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Reads a successful streamed call's body through <see cref="ProviderEventStream"/>, outermost in
/// each provider client's pipeline: after <see cref="NonStreamedAnswerPolicy"/> has made a JSON
/// answer the stream it stands for, so both forms have their error events and finish reasons read.
/// </summary>
internal sealed class ProviderEventPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Read(message);
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        Read(message);
    }

    private static void Read(PipelineMessage message)
    {
        if (!message.BufferResponse && message.Response is { IsError: false, ContentStream: { } stream } response)
        {
            response.ContentStream = new ProviderEventStream(stream);
        }
    }
}
