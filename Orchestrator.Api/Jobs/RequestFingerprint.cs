using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// A SHA-256 of the request's meaning, not its bytes: the same fields in another order or with other
/// whitespace are the same request, so a client's retry with a re-serialised body still replays.
/// </summary>
internal static class RequestFingerprint
{
    public static string Compute(JobRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>(request.Prompt.Length + 256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("prompt", request.Prompt);
            writer.WriteString("model", request.Model);
            if (request.MaxTokens is { } maxTokens)
            {
                writer.WriteNumber("maxTokens", maxTokens);
            }

            if (request.Temperature is { } temperature)
            {
                writer.WriteNumber("temperature", temperature);
            }

            if (request.Metadata is { Count: > 0 } metadata)
            {
                writer.WriteStartObject("metadata");
                foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    writer.WriteString(key, value);
                }

                writer.WriteEndObject();
            }

            if (request.FallbackModels is { Count: > 0 } fallbacks)
            {
                writer.WriteStartArray("fallbackModels");
                foreach (var model in fallbacks)
                {
                    writer.WriteStringValue(model);
                }

                writer.WriteEndArray();
            }

            // Only when present, so that the fingerprints of requests without one stay as they were.
            if (request.CallbackUrl is { } callbackUrl)
            {
                writer.WriteString("callbackUrl", callbackUrl);
            }

            // Likewise only when not normal: "normal" and no priority are the same request.
            if (request.Priority is { } priority and not JobPriority.Normal)
            {
                writer.WriteString("priority", priority);
            }

            writer.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }
}
