using System.ClientModel.Primitives;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// A provider pipeline's policy that acts on the response once the policies after it have made it
/// (<see cref="OnResponse"/>), in both the synchronous and the asynchronous pipeline.
/// </summary>
internal abstract class ResponsePolicy : PipelinePolicy
{
    /// <inheritdoc />
    public sealed override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        OnResponse(message);
    }

    /// <inheritdoc />
    public sealed override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        OnResponse(message);
    }

    /// <summary>Acts on <paramref name="message"/>'s response (wraps its body, most often).</summary>
    protected abstract void OnResponse(PipelineMessage message);
}
