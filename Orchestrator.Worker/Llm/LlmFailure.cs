using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Turns what an OpenAI-compatible call throws into the one taxonomy (<see cref="LlmErrorKind"/>):
/// the SDK's <see cref="ClientResultException"/> by status, error code and rate-limit headers;
/// network failures, dropped streams and stream events that are not JSON (or not UTF-8) as transient.
/// </summary>
public static partial class LlmFailure
{
    /// <summary>The classified error, or null when <paramref name="exception"/> is not a provider's.</summary>
    /// <param name="now">What a 429's <c>Retry-After</c> date is counted from when the response has no <c>Date</c> (<see cref="RateLimitHeaders.RetryAfter"/>).</param>
    public static LlmException? Classify(Exception exception, DateTimeOffset now) => exception switch
    {
        LlmException llm => llm,
        ClientResultException { Status: > 0 } result => FromResponse(result, now),
        // Status 0: no response at all (connection refused or dropped).
        ClientResultException => Failure(LlmErrorKind.Transient, $"The provider did not answer: {WithCause(exception)}", exception),
        HttpRequestException { StatusCode: { } status } => Failure(
            LlmErrorKinds.FromHttp((int)status, null, null), $"{(int)status}: {exception.Message}", exception),
        HttpRequestException or IOException => Failure(LlmErrorKind.Transient, $"The connection to the provider failed: {WithCause(exception)}", exception),
        // A body coded unasked (ContentDecodingPolicy) that does not decode: garbled on the way, as an
        // event that is not JSON.
        InvalidDataException => Failure(LlmErrorKind.Transient, $"The provider's coded body (Content-Encoding) could not be decoded: {exception.Message}", exception),
        // A stream event the SDK could not read (cut mid-event, or garbled on the way): the stream is
        // broken like a dropped connection, and another attempt may read a whole one.
        JsonException => Failure(LlmErrorKind.Transient, $"The provider's stream held an event that is not JSON: {exception.Message}", exception),
        // An event that is not valid UTF-8: System.Text.Json throws this reading its text. A
        // malformed answer like one that is not JSON, not a bug here.
        InvalidOperationException { InnerException: System.Text.DecoderFallbackException } =>
            Failure(LlmErrorKind.Transient, $"The provider's stream held an event that is not valid UTF-8: {exception.Message}", exception),
        // An event the SDK's reader refused: a finish_reason it does not know ("error", "abort",
        // "eos_token": ArgumentOutOfRangeException), a number where it reads a string or an integer
        // (FormatException), a null count (InvalidOperationException). The provider's answer, not a
        // bug here: it failed the job at once as 'unexpected'; now another attempt may read a whole
        // one, and an answer whose finish_reason came before the event is kept (LlmCaller). The SDK's
        // message runs over lines ("…value.\nActual value was error."): stored in one, as a body is.
        ArgumentOutOfRangeException or FormatException or InvalidOperationException
            when ThrownIn(exception, "OpenAI") || ThrownIn(exception, "System.Text.Json") =>
            Failure(LlmErrorKind.Transient, $"The provider's stream held an event the OpenAI client cannot read: {Whitespace().Replace(exception.Message, " ")}", exception),
        _ => null,
    };

    /// <summary>Whether <paramref name="exception"/> is a provider failure another attempt may fix.</summary>
    public static bool IsTransient(Exception exception) =>
        exception is LlmException { Kind: LlmErrorKind.Transient }
        || exception is ClientResultException { Status: 0 or 408 or 409 or >= 500 }
        || exception is HttpRequestException { StatusCode: { } status } && LlmErrorKinds.FromHttp((int)status, null, null) is LlmErrorKind.Transient
        || exception is HttpRequestException { StatusCode: null } or IOException;

    /// <summary>
    /// The error a provider sent as an event of a stream it had answered 200 (<paramref name="json"/>,
    /// the event's data: <c>{"error": …}</c>, or vLLM's <c>{"object": "error", …}</c>), classified by
    /// its type as an HTTP error of that type is; null for any other event (<see cref="ProviderEventStream"/>).
    /// </summary>
    internal static LlmException? FromErrorEvent(ReadOnlySpan<byte> json)
    {
        var (code, type, message, _) = ReadError(json.ToArray());
        return code is null && type is null && message is null
            ? null
            : Failure(LlmErrorKinds.FromStreamError(code, type, message),
                (code ?? type) is { } name ? $"The provider's stream ended with an error, {name}: {message}" : $"The provider's stream ended with an error: {message}");
    }

    /// <summary>
    /// The message, and its innermost cause's when that says more: a failed TLS handshake says only
    /// "The SSL connection could not be established, see inner exception", and the certificate's
    /// fault is in the inner one.
    /// </summary>
    private static string WithCause(Exception exception)
    {
        var inner = exception;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return ReferenceEquals(inner, exception) || exception.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? exception.Message
            : $"{exception.Message} ({inner.Message})";
    }

    private static LlmException FromResponse(ClientResultException exception, DateTimeOffset now)
    {
        var response = exception.GetRawResponse();
        ReadOnlyMemory<byte> body;
        try
        {
            body = response?.Content?.ToMemory() ?? default;
        }
        catch (InvalidOperationException)
        {
            // A body not read into memory: the status decides alone.
            body = default;
        }

        var (code, type, message, retryDelay) = ReadError(body);
        var kind = LlmErrorKinds.FromHttp(exception.Status, code, type, message);
        Func<string, string?> header = name => response is not null && response.Headers.TryGetValue(name, out var value) ? value : null;
        var rateLimited = kind is LlmErrorKind.RateLimited;
        return new LlmException(kind, MessageOf(exception.Status, response?.ReasonPhrase, code, type, message, body, header("Location")),
            rateLimited ? RateLimitHeaders.RetryAfter(header, now, type, message, retryDelay) : null, exception)
        {
            Limits = rateLimited ? RateLimitHeaders.Limits(header) : null,
        };
    }

    // Every message is built from text a provider wrote, and a tenant reads it on its job.
    private static LlmException Failure(LlmErrorKind kind, string message, Exception? inner = null) =>
        new(kind, ProviderSecrets.Redact(message), inner: inner);

    /// <summary>
    /// The message of an HTTP error: its status, the error's code or type (not when it only repeats
    /// the status, as LiteLLM's <c>"code": "401"</c> does) and its message; for a body in no error
    /// shape the status's reason and the start of the body (a FastAPI <c>{"detail": …}</c>, a proxy's
    /// HTML page); for a redirect, where it led, as it is not followed. Keys redacted.
    /// </summary>
    private static string MessageOf(int status, string? reason, string? code, string? type, string? message, ReadOnlyMemory<byte> body, string? location)
    {
        var name = new[] { code, type }.FirstOrDefault(n => !string.IsNullOrWhiteSpace(n) && n != status.ToString(CultureInfo.InvariantCulture));
        var head = string.IsNullOrWhiteSpace(name ?? reason) ? $"{status}" : $"{status} {name ?? reason}";
        if (status is >= 300 and < 400)
        {
            // The SDK's transport does not follow it, which keeps the key from whatever host it names;
            // the status alone read as a bad request with no cause (an http:// Endpoint behind an https redirect).
            return ProviderSecrets.Redact(
                $"{head}: the provider redirected the call to {location ?? "(no Location)"}, and redirects are not followed; check the provider's Endpoint (https rather than http?)");
        }

        var text = message ?? Excerpt(body);
        return ProviderSecrets.Redact(string.IsNullOrEmpty(text) ? $"{head} (no body)" : $"{head}: {text}");
    }

    /// <summary>How much of a body in no error shape the message quotes (characters): enough for a validation error's detail, not a whole HTML page.</summary>
    private const int MaxBodyExcerpt = 512;

    /// <summary>The body's text, on one line, redacted and then cut to <see cref="MaxBodyExcerpt"/> characters.</summary>
    private static string Excerpt(ReadOnlyMemory<byte> body)
    {
        if (body.IsEmpty)
        {
            return "";
        }

        // Redacted whole before the cut: a key across the cut would keep its start.
        var text = ProviderSecrets.Redact(Whitespace().Replace(Encoding.UTF8.GetString(body.Span), " ").Trim());
        if (text.Length <= MaxBodyExcerpt)
        {
            return text;
        }

        var kept = char.IsHighSurrogate(text[MaxBodyExcerpt - 1]) ? MaxBodyExcerpt - 1 : MaxBodyExcerpt;
        return $"{text.AsSpan(0, kept)}…";
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>
    /// The <c>code</c>, <c>type</c> and <c>message</c> of an error body in the shapes OpenAI-compatible
    /// servers send: OpenAI's <c>{"error": {"message", "type", "code"}}</c>; vLLM's (and other
    /// servers built on its protocol) <c>{"object": "error", "message", "type", "code": 400}</c>; a
    /// bare <c>{"error": "…"}</c> (Ollama); Google's, in an array, its <c>status</c> for a type
    /// (<c>[{"error": {"code": 400, "message", "status": "INVALID_ARGUMENT"}}]</c>, Gemini's OpenAI-compatible
    /// endpoint), and the wait its <c>details</c> name (<c>RetryInfo.retryDelay</c>). None for any other body.
    /// </summary>
    private static (string? Code, string? Type, string? Message, string? RetryDelay) ReadError(ReadOnlyMemory<byte> body)
    {
        if (body.IsEmpty)
        {
            return default;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() > 0)
            {
                root = root[0];
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return default;
            }

            if (root.TryGetProperty("error", out var error))
            {
                return error.ValueKind switch
                {
                    JsonValueKind.Object => (Text(error, "code"), Text(error, "type") ?? Text(error, "status"), Text(error, "message"), RetryDelayOf(error)),
                    JsonValueKind.String => (null, null, error.GetString(), null),
                    _ => default,
                };
            }

            return Text(root, "object") == "error" ? (Text(root, "code"), Text(root, "type"), Text(root, "message"), null) : default;
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's HTML page): the status decides alone.
            return default;
        }
    }

    // The wait Google's error names (error.details[].retryDelay, "20s"); null when it names none.
    private static string? RetryDelayOf(JsonElement error)
    {
        if (error.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Array)
        {
            foreach (var detail in details.EnumerateArray())
            {
                if (detail.ValueKind == JsonValueKind.Object && Text(detail, "retryDelay") is { } delay)
                {
                    return delay;
                }
            }
        }

        return null;
    }

    // A code may be a number (OpenRouter's HTTP status, "code": 502): read as its text.
    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                _ => null,
            }
            : null;

    // Where the exception was thrown: its Source names no assembly reliably ("System.Text.Json.Rethrowable").
    private static bool ThrownIn(Exception exception, string assembly) =>
        exception.TargetSite?.DeclaringType?.Assembly.GetName().Name == assembly;

}
