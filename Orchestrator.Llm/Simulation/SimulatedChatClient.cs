using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace Orchestrator.Llm.Simulation;

/// <summary>
/// The in-process simulated provider: the <see cref="SimulationEngine"/> behind
/// <see cref="IChatClient"/>, for a worker with no provider configured and for unit tests. Errors
/// are thrown as <see cref="LlmException"/>, as a real provider's are once classified.
/// </summary>
public sealed class SimulatedChatClient : IChatClient
{
    /// <summary>The provider name reported in <see cref="ChatClientMetadata"/> (<c>gen_ai.provider.name</c>).</summary>
    public const string ProviderName = "simulated";

    private readonly SimulationEngine _engine;
    private readonly string _model;
    private readonly bool _allowCrashHint;

    /// <summary>Creates a client with its own engine (its own limits and counters).</summary>
    public SimulatedChatClient(IOptions<SimulatorOptions> options, TimeProvider timeProvider)
    {
        _engine = new SimulationEngine(options.Value, timeProvider);
        _model = options.Value.Model;
        _allowCrashHint = options.Value.AllowCrashHint;
    }

    /// <summary>The engine's counters.</summary>
    public SimulatorStats Stats => _engine.Stats();

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? chatOptions = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, chatOptions, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
        }

        return updates.ToChatResponse();
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? chatOptions = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var model = chatOptions?.ModelId ?? _model;
        var metadata = chatOptions?.AdditionalProperties?.TryGetValue(SimulatorHints.MetadataProperty, out var m) == true ? m as IReadOnlyDictionary<string, string> : null;
        if (_allowCrashHint && metadata?.GetValueOrDefault(SimulatorHints.CrashProcess) == "true")
        {
            // As a native crash or an OOM kill would: no shutdown, nothing handed back.
            Environment.FailFast("simulator.crashProcess: this job crashes its worker (Simulator:AllowCrashHint is on).");
        }

        var plan = _engine.Plan(new SimulatedCall(
            model,
            string.Join("\n", messages.Select(m => m.Text)),
            chatOptions?.MaxOutputTokens,
            metadata,
            chatOptions?.AdditionalProperties?.TryGetValue(SimulatorHints.AttemptProperty, out var a) == true && a is int n ? n : 1));
        if (plan.Rejection is { } rejection)
        {
            throw rejection.ToException();
        }

        var answered = false;
        try
        {
            await _engine.DelayAsync(plan.Latency, cancellationToken).ConfigureAwait(false);
            if (plan.LateFailure is { } failure)
            {
                throw failure.ToException();
            }

            foreach (var (chunk, delay) in SimulatedStream.Chunks(plan))
            {
                await _engine.DelayAsync(delay, cancellationToken).ConfigureAwait(false);
                yield return new ChatResponseUpdate(ChatRole.Assistant, chunk) { ModelId = model };
            }

            answered = true;
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ModelId = model,
                FinishReason = plan.CutAtMaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop,
                Contents = [new UsageContent(new UsageDetails
                {
                    InputTokenCount = plan.PromptTokens,
                    OutputTokenCount = plan.CompletionTokens,
                    TotalTokenCount = plan.PromptTokens + plan.CompletionTokens,
                })],
            };
        }
        finally
        {
            _engine.Finished(plan, answered, aborted: !answered && cancellationToken.IsCancellationRequested);
        }
    }

    /// <inheritdoc />
    /// <remarks>Answers <see cref="ChatClientMetadata"/> too, so spans name the model used when a job names none.</remarks>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(ProviderName, defaultModelId: _model)
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <inheritdoc />
    public void Dispose()
    {
    }
}

/// <summary>How a planned answer is streamed: word-sized chunks, paced at the plan's tokens per second.</summary>
public static class SimulatedStream
{
    /// <summary>The answer's chunks, each with the wait before it.</summary>
    public static IEnumerable<(string Chunk, TimeSpan Delay)> Chunks(SimulatedPlan plan)
    {
        const int ChunkCount = 8;
        var text = plan.Text;
        var size = Math.Max(1, (text.Length + ChunkCount - 1) / ChunkCount);
        var chunks = (text.Length + size - 1) / size;
        var perChunk = plan.TokensPerSecond is { } tps ? TimeSpan.FromSeconds(plan.CompletionTokens / tps / Math.Max(1, chunks)) : TimeSpan.Zero;
        for (var i = 0; i < text.Length; i += size)
        {
            yield return (text.Substring(i, Math.Min(size, text.Length - i)), perChunk);
        }
    }
}
