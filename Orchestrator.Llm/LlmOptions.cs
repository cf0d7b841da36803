namespace Orchestrator.Llm;

/// <summary>
/// The LLM providers and the models they serve, bound from the <c>Llm</c> section. The API and the
/// worker read the same section: the API accepts only models served here, the worker calls them.
/// With no provider configured, every model is served by the in-process simulator (<c>Simulator:*</c>).
/// </summary>
public sealed class LlmOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Llm";

    /// <summary>The providers, by name (<c>Llm:Providers:{name}</c>). Default: none.</summary>
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The model a job gets when it names none; must be served. Default: the first model of the first provider.</summary>
    public string? DefaultModel { get; set; }

    /// <summary>
    /// The longest a job waits in total for a provider's rate limits (429 cooldowns and reserved
    /// capacity) before it fails as <c>rate-limited</c>. Default 1 hour.
    /// </summary>
    public TimeSpan MaxRateLimitWait { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How far ahead a call that must wait for its deployment's requests limit books its slot:
    /// charged now, it goes when the slot comes without asking again, so jobs waiting for that limit
    /// go in the order they asked (docs/design/job-store.md "Booked slots"). Longer waits
    /// ask again when they end. It bounds how much of a deployment's capacity one tenant's jobs hold
    /// ahead of another's. Default 30 s; 0: never book; at most 1 hour.
    /// </summary>
    public TimeSpan BookAhead { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest answer a job keeps, in characters (UTF-16 code units): a provider that streams more
    /// (a model looping with no <c>maxTokens</c>, a misbehaving server) is cut there, its answer
    /// completed as cut at a limit (<c>length</c>), so that one call cannot fill Redis and the
    /// worker's memory. Default 1,000,000 (about 250,000 tokens, past any model's output limit).
    /// </summary>
    public int MaxAnswerLength { get; set; } = DefaultMaxAnswerLength;

    /// <summary>The default of <see cref="MaxAnswerLength"/>.</summary>
    public const int DefaultMaxAnswerLength = 1_000_000;

    /// <summary>
    /// The longest a provider may send nothing: before its answer's first chunk (headers included) or
    /// between two chunks. A call that stalls this long is abandoned as a <c>timeout</c> (retried,
    /// counted against the deployment's circuit), long before <c>Retry:AttemptTimeout</c>, which bounds
    /// the whole answer. Default 30 s; 10 ms to 1 hour; at or above <c>Retry:AttemptTimeout</c> it never applies.
    /// </summary>
    public TimeSpan StreamIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Share of failed calls that opens a deployment's circuit: within
    /// <see cref="CircuitSamplingDuration"/>, at least <see cref="CircuitMinimumThroughput"/> calls and
    /// this share failed transiently. Default 0.5.
    /// </summary>
    public double CircuitFailureRatio { get; set; } = 0.5;

    /// <summary>Calls needed in the sampling window before a circuit may open. Default 10.</summary>
    public int CircuitMinimumThroughput { get; set; } = 10;

    /// <summary>The window over which a circuit counts failures. Default 30 s.</summary>
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit stays open before one probe call is let through. Default 5 s.</summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>One provider deployment: an OpenAI-compatible endpoint (or the simulator) and its limits.</summary>
public sealed class ProviderOptions
{
    /// <summary><c>openai</c> (any OpenAI-compatible endpoint) or <c>simulated</c> (in-process). Required.</summary>
    public string Kind { get; set; } = "";

    /// <summary>The base URL, e.g. <c>https://api.openai.com/v1</c> or <c>http://localhost:11434/v1</c>. Required for <c>openai</c>.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>The API key sent as a bearer token; never logged. Optional (local servers need none).</summary>
    public string? ApiKey { get; set; }

    /// <summary>The models this provider serves; at least one.</summary>
    public List<ModelOptions> Models { get; set; } = [];

    /// <summary>Requests per minute the deployment allows; absent = unknown (learnt from its 429s).</summary>
    public int? RequestsPerMinute { get; set; }

    /// <summary>Tokens (prompt + completion) per minute the deployment allows; absent = unknown.</summary>
    public int? TokensPerMinute { get; set; }

    /// <summary>Calls in flight at once across the whole fleet; absent = unbounded.</summary>
    public int? MaxConcurrency { get; set; }

    /// <summary>
    /// Whether the deployment charges a call's requested tokens (prompt + <c>max_tokens</c>) against
    /// its tokens-per-minute limit and gives back none the answer did not use, as OpenAI counts
    /// <c>max_tokens</c>: the worker then keeps that charge after the call, where it settles to the
    /// usage by default. Settled to the usage, a fleet sent more than such a deployment took (an
    /// outside audit: 38 % of calls answered 429 with the limits configured as the provider's). Default false.
    /// </summary>
    public bool ChargesRequestedTokens { get; set; }

    /// <summary>
    /// Completion tokens a job that sets no <c>maxTokens</c> reserves against the deployment's
    /// tokens-per-minute limit. Not sent to the provider, nor counted against a model's context
    /// window (the prompt alone is). Default 1,024.
    /// </summary>
    public int DefaultMaxTokens { get; set; } = 1024;

    /// <summary>
    /// The request field that carries a job's <c>maxTokens</c> (<c>openai</c> providers only):
    /// <c>max_completion_tokens</c> (OpenAI's current field; OpenAI, Azure OpenAI, vLLM) or
    /// <c>max_tokens</c> (the older field, the one Ollama and LM Studio read: they ignore the newer
    /// one, and the answer would not be bounded). Default <c>max_completion_tokens</c>.
    /// </summary>
    public string MaxTokensField { get; set; } = MaxTokensFields.MaxCompletionTokens;

    /// <summary>
    /// This provider's <c>Llm:StreamIdleTimeout</c>: longer for a reasoning model that thinks before
    /// its first token, shorter for a fast one. Absent = <c>Llm:StreamIdleTimeout</c>; 10 ms to 1 hour.
    /// </summary>
    public TimeSpan? StreamIdleTimeout { get; set; }

    /// <summary>Whether this is the in-process simulator.</summary>
    public bool IsSimulated => string.Equals(Kind, ProviderKinds.Simulated, StringComparison.OrdinalIgnoreCase);
}

/// <summary>One model of a provider.</summary>
public sealed class ModelOptions
{
    /// <summary>The model name sent to the provider and accepted in <c>POST /jobs</c>. Required.</summary>
    public string Name { get; set; } = "";

    /// <summary>Prompt plus completion tokens the model accepts; absent = unknown (no check before the call).</summary>
    public int? ContextWindow { get; set; }

    /// <summary>Price of one million prompt tokens, in the account's currency. Default 0.</summary>
    public decimal InputCostPerMillion { get; set; }

    /// <summary>Price of one million completion tokens, in the account's currency. Default 0.</summary>
    public decimal OutputCostPerMillion { get; set; }
}

/// <summary>The values of <see cref="ProviderOptions.Kind"/>.</summary>
public static class ProviderKinds
{
    /// <summary>Any endpoint speaking OpenAI's chat-completions protocol.</summary>
    public const string OpenAI = "openai";

    /// <summary>The in-process simulator.</summary>
    public const string Simulated = "simulated";
}

/// <summary>The values of <see cref="ProviderOptions.MaxTokensField"/>: the request fields that bound the completion.</summary>
public static class MaxTokensFields
{
    /// <summary>OpenAI's field since 2024, which its reasoning models require.</summary>
    public const string MaxCompletionTokens = "max_completion_tokens";

    /// <summary>The older field, which OpenAI still reads for most models and Ollama and LM Studio read alone.</summary>
    public const string MaxTokens = "max_tokens";
}
