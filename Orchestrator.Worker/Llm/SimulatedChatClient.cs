using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// The default LLM provider: answers after <c>Simulator:Latency</c> with a plausible text and
/// token counts, and fails a configurable share of calls. It sits behind <see cref="IChatClient"/>
/// so a real OpenAI-compatible client replaces it without touching the worker loop.
/// </summary>
public sealed class SimulatedChatClient(IOptions<SimulatorOptions> options, TimeProvider timeProvider) : IChatClient
{
    private static readonly string[] Openings =
    [
        "Here is a concise answer.",
        "In short:",
        "Let's break this down.",
        "The key idea is simple.",
    ];

    private readonly SimulatorOptions _options = options.Value;
    private readonly Random _random = options.Value.Seed is { } seed ? new Random(seed) : new Random();
    private readonly Lock _randomLock = new();

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? chatOptions = null, CancellationToken cancellationToken = default)
    {
        var prompt = string.Join("\n", messages.Select(m => m.Text));
        var metadata = chatOptions?.AdditionalProperties?.TryGetValue(SimulatorHints.MetadataProperty, out var m) == true
            ? m as IReadOnlyDictionary<string, string>
            : null;
        var attempt = chatOptions?.AdditionalProperties?.TryGetValue(SimulatorHints.AttemptProperty, out var a) == true && a is int n ? n : 1;

        if (_options.AllowCrashHint && metadata?.GetValueOrDefault(SimulatorHints.CrashProcess) == "true")
        {
            // As a native crash or an OOM kill would: no shutdown, nothing handed back.
            Environment.FailFast("simulator.crashProcess: this job crashes its worker (Simulator:AllowCrashHint is on).");
        }

        var latency = Hint(metadata, SimulatorHints.LatencyMs) is { } ms ? TimeSpan.FromMilliseconds(ms) : _options.Latency;
        var failureRate = Hint(metadata, SimulatorHints.FailureRate) ?? _options.FailureRate;
        double roll;
        lock (_randomLock)
        {
            roll = _random.NextDouble();
        }

        if (latency > TimeSpan.Zero)
        {
            // On the real clock, wait precisely (see LatencyClock); a test's fake clock is obeyed as is.
            await (ReferenceEquals(timeProvider, TimeProvider.System)
                ? LatencyClock.Shared.WaitAsync(latency, cancellationToken)
                : Task.Delay(latency, timeProvider, cancellationToken)).ConfigureAwait(false);
        }

        if (metadata?.GetValueOrDefault(SimulatorHints.PermanentFailure) == "true" || roll >= 1 - _options.PermanentFailureRate)
        {
            throw new PermanentLlmException("invalid request: the simulated provider rejected this prompt.");
        }

        if (Hint(metadata, SimulatorHints.FailFirstAttempts) is { } failFirst && attempt <= failFirst)
        {
            throw new TransientLlmException($"simulated overload (attempt {attempt} of the first {failFirst:0} that fail).");
        }

        if (roll < failureRate)
        {
            throw new TransientLlmException("simulated transient failure: the provider is overloaded (503).");
        }

        var text = Compose(prompt, chatOptions?.MaxOutputTokens);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text))
        {
            ModelId = chatOptions?.ModelId ?? _options.Model,
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails
            {
                InputTokenCount = EstimateTokens(prompt),
                OutputTokenCount = EstimateTokens(text),
            },
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? chatOptions = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, chatOptions, cancellationToken).ConfigureAwait(false);
        foreach (var update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    /// <inheritdoc />
    /// <remarks>Answers <see cref="ChatClientMetadata"/> too, so spans name the model used when a job names none.</remarks>
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata(ProviderName, defaultModelId: _options.Model)
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <summary>The provider name reported in <see cref="ChatClientMetadata"/> (<c>gen_ai.provider.name</c>).</summary>
    public const string ProviderName = "simulated";

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static string Compose(string prompt, int? maxOutputTokens)
    {
        var subject = prompt.Length > 80 ? prompt[..80].TrimEnd() + "…" : prompt.Trim();
        var opening = Openings[(uint)prompt.GetHashCode(StringComparison.Ordinal) % Openings.Length];
        var text = $"{opening} You asked: \"{subject}\". A production model would answer here; this is the simulated provider, "
            + "which returns text of a realistic shape so the pipeline around it can be exercised end to end.";
        if (maxOutputTokens is { } max && EstimateTokens(text) > max)
        {
            text = text[..Math.Min(text.Length, Math.Max(1, max * 4))];
        }

        return text;
    }

    // Roughly four characters a token for English text, as most BPE tokenizers give.
    private static long EstimateTokens(string text) => Math.Max(1, (text.Length + 3) / 4);

    private static double? Hint(IReadOnlyDictionary<string, string>? metadata, string key) =>
        metadata?.TryGetValue(key, out var value) == true
        && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : null;
}
