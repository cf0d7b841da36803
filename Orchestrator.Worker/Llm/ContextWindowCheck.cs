using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Whether a job's prompt fits a model's context window, checked before a call that would be a paid
/// 400. It counts what the call asks the provider for: the prompt plus the job's <c>maxTokens</c>, or
/// the prompt alone when the job sets none, since then no <c>max_tokens</c> is sent and the provider
/// takes any prompt that fits (the answer gets what is left). A provider's <c>DefaultMaxTokens</c> is
/// not added: it is what flow control reserves against a tokens-per-minute limit, not a length asked for.
/// </summary>
internal static class ContextWindowCheck
{
    /// <summary>
    /// Null when the prompt fits <paramref name="window"/> (or the window is unknown); else the
    /// <c>context-length-exceeded</c> error, naming the numbers it added up.
    /// </summary>
    /// <param name="hasFallbacks">Whether the job names fallback models: then the error, if it ends the job, is also theirs.</param>
    public static LlmException? TooLong(string model, int? window, int promptTokens, int? maxTokens, bool hasFallbacks)
    {
        if (window is not { } limit || promptTokens + (maxTokens ?? 0) <= limit)
        {
            return null;
        }

        var asked = maxTokens is { } max
            ? $"The prompt ({promptTokens} tokens) plus the job's maxTokens ({max})"
            : $"The prompt ({promptTokens} tokens; the job sets no maxTokens, so none are added for the answer)";
        return new LlmException(LlmErrorKind.ContextLengthExceeded,
            $"{asked} exceeds the context window of '{model}' ({window} tokens){(hasFallbacks ? " and of every fallback" : "")}.");
    }
}
