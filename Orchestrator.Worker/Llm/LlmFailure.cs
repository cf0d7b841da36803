using System.ClientModel;
using System.Text.Json;
using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Turns what an OpenAI-compatible call throws into the one taxonomy (<see cref="LlmErrorKind"/>):
/// the SDK's <see cref="ClientResultException"/> by status, error code and rate-limit headers;
/// network failures, dropped streams and stream events that are not JSON as transient.
/// </summary>
public static class LlmFailure
{
    /// <summary>The classified error, or null when <paramref name="exception"/> is not a provider's.</summary>
    public static LlmException? Classify(Exception exception, TimeProvider timeProvider) => exception switch
    {
        LlmException llm => llm,
        ClientResultException { Status: > 0 } result => FromResponse(result, timeProvider),
        // Status 0: no response at all (connection refused or dropped).
        ClientResultException => new LlmException(LlmErrorKind.Transient, $"The provider did not answer: {exception.Message}", inner: exception),
        HttpRequestException { StatusCode: { } status } => new LlmException(
            LlmErrorKinds.FromHttp((int)status, null, null), $"{(int)status}: {exception.Message}", inner: exception),
        HttpRequestException or IOException => new LlmException(LlmErrorKind.Transient, $"The connection to the provider failed: {exception.Message}", inner: exception),
        // A stream event the SDK could not read (cut mid-event, or garbled on the way): the stream is
        // broken like a dropped connection, and another attempt may read a whole one.
        JsonException => new LlmException(LlmErrorKind.Transient, $"The provider's stream held an event that is not JSON: {exception.Message}", inner: exception),
        _ => null,
    };

    /// <summary>Whether <paramref name="exception"/> is a provider failure another attempt may fix.</summary>
    public static bool IsTransient(Exception exception) =>
        exception is LlmException { Kind: LlmErrorKind.Transient }
        || exception is ClientResultException { Status: 0 or 408 or 409 or >= 500 }
        || exception is HttpRequestException { StatusCode: { } status } && LlmErrorKinds.FromHttp((int)status, null, null) is LlmErrorKind.Transient
        || exception is HttpRequestException { StatusCode: null } or IOException;

    private static LlmException FromResponse(ClientResultException exception, TimeProvider timeProvider)
    {
        var response = exception.GetRawResponse();
        string? code = null, type = null, message = null;
        try
        {
            if (response?.Content is { } content && content.ToMemory().Length > 0)
            {
                using var body = JsonDocument.Parse(content.ToMemory());
                if (body.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                {
                    code = Text(error, "code");
                    type = Text(error, "type");
                    message = Text(error, "message");
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not OpenAI's error shape (a proxy's HTML page): the status decides alone.
        }

        var kind = LlmErrorKinds.FromHttp(exception.Status, code, type);
        Func<string, string?> header = name => response is not null && response.Headers.TryGetValue(name, out var value) ? value : null;
        var rateLimited = kind is LlmErrorKind.RateLimited;
        return new LlmException(kind, $"{exception.Status} {code ?? type}: {message ?? exception.Message}",
            rateLimited ? RateLimitHeaders.RetryAfter(header, timeProvider.GetUtcNow()) : null, exception)
        {
            Limits = rateLimited ? RateLimitHeaders.Limits(header) : null,
        };
    }

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
