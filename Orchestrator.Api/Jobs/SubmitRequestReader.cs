using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using Microsoft.Net.Http.Headers;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Reads and validates the body of <c>POST /jobs</c> by hand, so that every way a body can be wrong
/// (size, content type, encoding, syntax, nesting, types, ranges) becomes a precise 4xx problem,
/// never a 500 from a model binder.
/// </summary>
internal static class SubmitRequestReader
{
    public const int MaxModelLength = 200;
    public const int MaxMetadataEntries = 32;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataValueLength = 1024;
    public const int MaxTokensLimit = 1_000_000;

    /// <summary>
    /// The longest W3C <c>tracestate</c> kept with a job, in characters (ASCII by the spec). The
    /// spec asks vendors to propagate at least 512; a longer header is dropped (the trace still
    /// links through <c>traceparent</c>), not refused: it is a client's tracing, not its job.
    /// </summary>
    public const int MaxTraceStateLength = 512;
    private const int MaxJsonDepth = 16;

    public static async Task<SubmitReadResult> ReadAsync(HttpRequest request, ApiOptions options, CancellationToken cancellationToken)
    {
        if (!IsJson(request.ContentType))
        {
            return SubmitReadResult.Fail(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                "Send the job as JSON with 'Content-Type: application/json'.");
        }

        if (request.ContentLength > options.MaxRequestBodySize)
        {
            return TooLarge(options);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Min(options.MaxRequestBodySize + 1, 64 * 1024));
        try
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length > options.MaxRequestBodySize)
                    {
                        return TooLarge(options);
                    }

                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, options.MaxRequestBodySize + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > options.MaxRequestBodySize)
                {
                    return TooLarge(options);
                }
            }

            return Parse(buffer.AsSpan(0, length), options);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static SubmitReadResult Parse(ReadOnlySpan<byte> body, ApiOptions options)
    {
        if (body.IsEmpty || body.Trim(" \t\r\n"u8).IsEmpty)
        {
            return BadRequest("The request body is empty; send a JSON object with at least a 'prompt'.");
        }

        if (!Utf8.IsValid(body))
        {
            return BadRequest("The request body is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e) when (e.Message.Contains("depth", StringComparison.OrdinalIgnoreCase))
        {
            return BadRequest($"The JSON is nested deeper than {MaxJsonDepth} levels.");
        }
        catch (JsonException e)
        {
            return BadRequest($"The request body is not valid JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return BadRequest($"The request body must be a JSON object, not {Describe(document.RootElement.ValueKind)}.");
            }

            return Validate(document.RootElement, options);
        }
    }

    private static SubmitReadResult Validate(JsonElement root, ApiOptions options)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? prompt = null, model = null;
        int? maxTokens = null;
        double? temperature = null;
        Dictionary<string, string>? metadata = null;

        foreach (var property in root.EnumerateObject())
        {
            if (!TryGetName(property, out var name))
            {
                errors["body"] = ["A property name contains an invalid Unicode escape (a lone surrogate)."];
                continue;
            }

            if (!seen.Add(name))
            {
                errors[name] = ["The property appears more than once."];
                continue;
            }

            var value = property.Value;
            switch (name)
            {
                case "prompt":
                    prompt = ReadPrompt(value, options, errors);
                    break;
                case "model":
                    model = ReadOptionalString(value, "model", MaxModelLength, errors);
                    break;
                case "maxTokens":
                    if (value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var tokens))
                    {
                        errors["maxTokens"] = [$"maxTokens must be an integer from 1 to {MaxTokensLimit:N0}."];
                    }
                    else if (tokens is < 1 or > MaxTokensLimit)
                    {
                        errors["maxTokens"] = [$"maxTokens must be from 1 to {MaxTokensLimit:N0}; got {tokens}."];
                    }
                    else
                    {
                        maxTokens = tokens;
                    }

                    break;
                case "temperature":
                    if (value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }

                    if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var t) || !double.IsFinite(t) || t is < 0 or > 2)
                    {
                        errors["temperature"] = ["temperature must be a number from 0 to 2."];
                    }
                    else
                    {
                        temperature = t;
                    }

                    break;
                case "metadata":
                    metadata = ReadMetadata(value, options, errors);
                    break;
            }
        }

        if (prompt is null && !errors.ContainsKey("prompt"))
        {
            errors["prompt"] = ["prompt is required."];
        }

        return errors.Count > 0
            ? SubmitReadResult.Invalid(errors)
            : SubmitReadResult.Ok(new JobRequest(prompt!, model, maxTokens, temperature, metadata));
    }

    private static string? ReadPrompt(JsonElement value, ApiOptions options, Dictionary<string, string[]> errors)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            errors["prompt"] = [$"prompt must be a string, not {Describe(value.ValueKind)}."];
            return null;
        }

        if (!TryGetString(value, out var prompt))
        {
            errors["prompt"] = ["prompt contains an invalid Unicode escape (a lone surrogate)."];
            return null;
        }

        if (string.IsNullOrWhiteSpace(prompt))
        {
            errors["prompt"] = ["prompt must not be blank."];
            return null;
        }

        if (prompt.Length > options.MaxPromptLength)
        {
            errors["prompt"] = [$"prompt is {prompt.Length:N0} characters; the limit is {options.MaxPromptLength:N0}."];
            return null;
        }

        return prompt;
    }

    private static string? ReadOptionalString(JsonElement value, string name, int maxLength, Dictionary<string, string[]> errors)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || !TryGetString(value, out var text))
        {
            errors[name] = [$"{name} must be a string or null."];
            return null;
        }

        if (text.Length > maxLength)
        {
            errors[name] = [$"{name} is {text.Length:N0} characters; the limit is {maxLength:N0}."];
            return null;
        }

        return text;
    }

    private static Dictionary<string, string>? ReadMetadata(JsonElement value, ApiOptions options, Dictionary<string, string[]> errors)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors["metadata"] = [$"metadata must be an object of string values, not {Describe(value.ValueKind)}."];
            return null;
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var entry in value.EnumerateObject())
        {
            if (metadata.Count == MaxMetadataEntries)
            {
                problems.Add($"metadata has more than {MaxMetadataEntries} entries.");
                break;
            }

            // The name is unescaped on read: an escaped lone surrogate ("\ud800") throws, it is not a 500.
            if (!TryGetName(entry, out var key) || key.Length is 0 or > MaxMetadataKeyLength || HasLoneSurrogate(key))
            {
                problems.Add($"metadata keys must be 1 to {MaxMetadataKeyLength} characters of valid Unicode.");
                continue;
            }

            if (entry.Value.ValueKind != JsonValueKind.String || !TryGetString(entry.Value, out var text))
            {
                problems.Add($"metadata['{key}'] must be a string, not {Describe(entry.Value.ValueKind)}.");
                continue;
            }

            if (text.Length > MaxMetadataValueLength)
            {
                problems.Add($"metadata['{key}'] is {text.Length:N0} characters; the limit is {MaxMetadataValueLength:N0}.");
                continue;
            }

            if (!metadata.TryAdd(key, text))
            {
                problems.Add($"metadata['{key}'] appears more than once.");
            }
        }

        if (problems.Count == 0 && JobMetadata.StoredBytes(metadata) is var bytes && bytes > options.MaxMetadataBytes)
        {
            problems.Add($"metadata takes {bytes:N0} bytes as stored (JSON, UTF-8; non-ASCII characters escaped, 6 bytes each); " +
                $"the limit is {options.MaxMetadataBytes:N0} (Api:MaxMetadataBytes).");
        }

        if (problems.Count > 0)
        {
            errors["metadata"] = [.. problems];
            return null;
        }

        return metadata;
    }

    private static bool TryGetName(JsonProperty property, out string name)
    {
        try
        {
            name = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate in a property name, as in a string value.
            name = string.Empty;
            return false;
        }
    }

    private static bool TryGetString(JsonElement value, out string text)
    {
        try
        {
            text = value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate ("\ud800") cannot become a valid string.
            text = string.Empty;
            return false;
        }

        return !HasLoneSurrogate(text);
    }

    private static bool HasLoneSurrogate(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsJson(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType.Value is not { } type)
        {
            return false;
        }

        if (media.Charset.HasValue && !media.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    private static SubmitReadResult BadRequest(string detail) =>
        SubmitReadResult.Fail(StatusCodes.Status400BadRequest, "Malformed request body", detail);

    private static SubmitReadResult TooLarge(ApiOptions options) =>
        SubmitReadResult.Fail(StatusCodes.Status413PayloadTooLarge, "Request body too large",
            $"The request body exceeds {options.MaxRequestBodySize:N0} bytes (Api:MaxRequestBodySize).");
}

/// <summary>Either a valid request, or the problem to answer with.</summary>
internal sealed record SubmitReadResult(
    JobRequest? Request,
    int StatusCode,
    string? Title,
    string? Detail,
    IDictionary<string, string[]>? Errors)
{
    public static SubmitReadResult Ok(JobRequest request) => new(request, StatusCodes.Status202Accepted, null, null, null);

    public static SubmitReadResult Fail(int status, string title, string detail) => new(null, status, title, detail, null);

    public static SubmitReadResult Invalid(IDictionary<string, string[]> errors) =>
        new(null, StatusCodes.Status400BadRequest, "The job request is invalid", null, errors);
}
