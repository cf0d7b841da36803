using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Reads a successful streamed call's body through <see cref="FinishReasonAliasStream"/>, outermost
/// in each provider client's pipeline: after <see cref="NonStreamedAnswerPolicy"/> has made a JSON
/// answer the stream it stands for, so both forms have their finish reasons read as OpenAI's.
/// </summary>
internal sealed class FinishReasonAliasPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Alias(message);
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        Alias(message);
    }

    private static void Alias(PipelineMessage message)
    {
        if (!message.BufferResponse && message.Response is { IsError: false, ContentStream: { } stream } response)
        {
            response.ContentStream = new FinishReasonAliasStream(stream);
        }
    }
}
