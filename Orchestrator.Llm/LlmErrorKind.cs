namespace Orchestrator.Llm;

/// <summary>
/// The one taxonomy of provider errors (README "Errors"). Each kind decides what the worker does:
/// wait without spending an attempt, retry with backoff, or dead-letter at once.
/// </summary>
public enum LlmErrorKind
{
    /// <summary>429 (not quota): wait the announced time; no attempt spent; the deployment pauses fleet-wide.</summary>
    RateLimited,

    /// <summary>429 <c>insufficient_quota</c>: the account is out of credit. Permanent.</summary>
    InsufficientQuota,

    /// <summary>400: the request is wrong. Permanent.</summary>
    InvalidRequest,

    /// <summary>400 <c>context_length_exceeded</c>, or a prompt too long for every model a job may use. Permanent.</summary>
    ContextLengthExceeded,

    /// <summary>
    /// 429 "Request too large": the call needs more tokens than the deployment's per-minute limit
    /// allows at all (OpenAI's answer to prompt + <c>max_tokens</c> over the account's TPM). No wait
    /// makes it fit: the next fallback model is tried, else the job fails. Permanent.
    /// </summary>
    RequestTooLarge,

    /// <summary>401: the API key is missing or wrong. Permanent.</summary>
    Authentication,

    /// <summary>403: the key may not use this model or endpoint. Permanent.</summary>
    Permission,

    /// <summary>404: the deployment does not serve the model. Permanent.</summary>
    ModelNotFound,

    /// <summary>408, 409, 5xx, timeouts, dropped connections: retried with backoff.</summary>
    Transient,
}

/// <summary>The per-minute limits a provider announced in its <c>x-ratelimit-limit-*</c> headers.</summary>
public sealed record AnnouncedLimits(int? RequestsPerMinute, int? TokensPerMinute);

/// <summary>What each <see cref="LlmErrorKind"/> means for a job.</summary>
public static class LlmErrorKinds
{
    /// <summary>The error type stored on the job (<c>error.type</c>).</summary>
    public static string TypeOf(LlmErrorKind kind) => kind switch
    {
        LlmErrorKind.RateLimited => "rate-limited",
        LlmErrorKind.InsufficientQuota => "insufficient-quota",
        LlmErrorKind.InvalidRequest => "invalid-request",
        LlmErrorKind.ContextLengthExceeded => "context-length-exceeded",
        LlmErrorKind.RequestTooLarge => "request-too-large",
        LlmErrorKind.Authentication => "authentication",
        LlmErrorKind.Permission => "permission",
        LlmErrorKind.ModelNotFound => "model-not-found",
        _ => "transient",
    };

    /// <summary>Whether trying again (after backoff) may succeed.</summary>
    public static bool IsTransient(LlmErrorKind kind) => kind is LlmErrorKind.Transient;

    /// <summary>
    /// The kind of an HTTP error answer from an OpenAI-compatible endpoint, from its status and the
    /// <c>code</c> / <c>type</c> / <c>message</c> of its error body. A 400 is a context-length error
    /// when OpenAI's code says so, or when its message does in the words OpenAI and vLLM both use
    /// ("maximum context length"): vLLM sends no such code.
    /// </summary>
    public static LlmErrorKind FromHttp(int status, string? code, string? type, string? message = null)
    {
        if (code == "insufficient_quota" || type == "insufficient_quota")
        {
            return LlmErrorKind.InsufficientQuota;
        }

        return status switch
        {
            429 when IsTooLarge(message) => LlmErrorKind.RequestTooLarge,
            429 => LlmErrorKind.RateLimited,
            // Payment required: DeepSeek's "Insufficient Balance", OpenRouter's "Insufficient credits".
            402 => LlmErrorKind.InsufficientQuota,
            400 or 413 or 422 when IsContextLength(code, type, message) => LlmErrorKind.ContextLengthExceeded,
            // Groq answers "Request too large" with 413; any 413 is a call this deployment will not take.
            413 => LlmErrorKind.RequestTooLarge,
            401 => LlmErrorKind.Authentication,
            403 => LlmErrorKind.Permission,
            404 => LlmErrorKind.ModelNotFound,
            408 or 409 or >= 500 => LlmErrorKind.Transient,
            _ => LlmErrorKind.InvalidRequest,
        };
    }

    /// <summary>
    /// The kind of an error a provider reported inside a stream it had answered 200: there is no
    /// status of its own, so its <c>type</c> or <c>code</c> stands for the status an HTTP error of
    /// that name has, and decides as <see cref="FromHttp"/> does (<c>server_error</c> transient,
    /// <c>invalid_request_error</c> invalid-request, …). A name not known is transient: the stream
    /// broke, as a dropped one does.
    /// </summary>
    public static LlmErrorKind FromStreamError(string? code, string? type, string? message = null) =>
        FromHttp(StatusOf(code) ?? HttpStatus(code) ?? StatusOf(type) ?? 500, code, type, message);

    // A code that is an HTTP error status, as OpenRouter sends its errors inside a stream ("code": 429).
    private static int? HttpStatus(string? code) =>
        int.TryParse(code, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var status) && status is >= 400 and <= 599
            ? status
            : null;

    // OpenAI's words ("Request too large for gpt-4o in organization … on tokens per min (TPM): Limit
    // 30000, Requested 36282. The input or output tokens must be reduced …"): waited out as a rate
    // limit, the job called the deployment again at every cooldown until Llm:MaxRateLimitWait, and
    // each 429 paused the deployment for every other job (an outside audit: 82 calls in 96 s).
    private static bool IsTooLarge(string? message) =>
        message?.StartsWith("Request too large", StringComparison.OrdinalIgnoreCase) == true;

    // Each server's words for a prompt over the model's context (an outside audit: all but OpenAI's and
    // vLLM's were dead-lettered as invalid-request, the fallback never tried). OpenAI's code; llama.cpp's
    // type; OpenAI, vLLM and Mistral ("maximum context length"); llama.cpp ("exceeds the available
    // context size"); OpenAI's Responses ("context window"); Anthropic ("prompt is too long: 215000
    // tokens > 200000 maximum"); Gemini ("The input token count … exceeds the maximum number of tokens
    // allowed"); TGI's 422 ("`inputs` tokens + `max_new_tokens` must be <= 4096").
    private static bool IsContextLength(string? code, string? type, string? message) =>
        code is "context_length_exceeded" or "exceed_context_size_error"
        || type is "context_length_exceeded" or "exceed_context_size_error"
        || (message is not null && (ContextWords.Any(words => message.Contains(words, StringComparison.OrdinalIgnoreCase))
            || (message.Contains("exceed", StringComparison.OrdinalIgnoreCase)
                && (message.Contains("context size", StringComparison.OrdinalIgnoreCase) || message.Contains("context window", StringComparison.OrdinalIgnoreCase)))
            || (message.Contains("max_new_tokens", StringComparison.Ordinal) && message.Contains("must be <=", StringComparison.Ordinal))));

    // "context size" and "context window" only with "exceed": a message that merely points at the
    // window ("max_tokens is too large, see the model's context window") is another bad request.
    private static readonly string[] ContextWords = ["maximum context length", "prompt is too long", "exceeds the maximum number of tokens"];

    // OpenAI's error types and codes, and the Python SDK's exception names some servers (vLLM) send as the type.
    private static int? StatusOf(string? name) => name switch
    {
        "invalid_request_error" or "context_length_exceeded" or "BadRequestError" => 400,
        "authentication_error" or "invalid_api_key" or "AuthenticationError" => 401,
        "permission_error" or "PermissionDeniedError" => 403,
        "not_found_error" or "model_not_found" or "NotFoundError" => 404,
        "rate_limit_exceeded" or "rate_limit_error" or "RateLimitError" or "insufficient_quota" => 429,
        _ => null,
    };
}

/// <summary>A provider's error, classified (see <see cref="LlmErrorKind"/>).</summary>
public sealed class LlmException(LlmErrorKind kind, string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The limits a 429 announced (<c>x-ratelimit-limit-requests</c>, <c>-tokens</c>), when it did.</summary>
    public AnnouncedLimits? Limits { get; init; }

    /// <summary>What kind of error this is.</summary>
    public LlmErrorKind Kind { get; } = kind;

    /// <summary>How long the provider asked to wait (429s), when it said.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}
