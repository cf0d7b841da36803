using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Maps what the serializer refused in a <c>POST /jobs</c> body to the problem that names it: a
/// malformed document as a whole, or the field and what is wrong with it.
/// </summary>
internal static class JsonProblem
{
    /// <summary>
    /// The serializer stops at the first token it cannot use; this says why in the client's terms:
    /// first what is wrong with the document as a whole (syntax, depth, one reader pass), then every
    /// field that is wrong. A refused field is named from <see cref="JsonException.Path"/> and the
    /// value found there, taken out of the body (a metadata entry alone), and the rest read again,
    /// so one answer lists each bad field, as the validation attributes do for well-typed ones.
    /// </summary>
    public static SubmitReadResult From(ReadOnlySpan<byte> body, JsonException error, IServiceProvider services)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = JobLimits.MaxJsonDepth + 1 });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= JobLimits.MaxJsonDepth)
                {
                    return SubmitRequestReader.BadRequest($"The JSON is nested deeper than {JobLimits.MaxJsonDepth} levels.");
                }
            }
        }
        catch (JsonException syntax)
        {
            return SubmitRequestReader.BadRequest($"The request body is not valid JSON: {syntax.Message}");
        }

        var rest = body.ToArray();
        var refused = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var removed = new HashSet<string>(StringComparer.Ordinal);
        SubmitJobRequest? request = null;
        JsonException? pending = error;
        do
        {
            using var document = JsonDocument.Parse(rest);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return SubmitRequestReader.BadRequest($"The request body must be a JSON object, not {Describe(root.ValueKind)}.");
            }

            // A metadata object past its bound is refused whole, as the rules would refuse it: refused
            // entry by entry, each a parse of the rest, 8,000 bad entries (80 KB) cost 4 s of CPU.
            var (field, key, message) = TooManyMetadataEntries(root) ? ("metadata", null, JobLimits.TooManyMetadataEntries) : Refusal(root, pending);
            (refused.TryGetValue(field, out var list) ? list : refused[field] = []).Add(message);
            if (key is null)
            {
                removed.Add(field);
            }

            var shorter = Without(root, field, key);
            if (shorter.AsSpan().SequenceEqual(rest))
            {
                break; // nothing left to take out: answer with what was found
            }

            rest = shorter;
            try
            {
                request = JsonSerializer.Deserialize(rest, ApiJsonContext.Default.SubmitJobRequest);
                pending = null;
            }
            catch (JsonException next)
            {
                pending = next;
            }
        }
        while (pending is not null);

        // The rules also see what was left: a missing prompt, an out-of-range number beside a bad field.
        foreach (var (field, messages) in request is null ? [] : SubmitRequestReader.Validate(request, services))
        {
            if (!removed.Contains(field))
            {
                (refused.TryGetValue(field, out var list) ? list : refused[field] = []).AddRange(messages);
            }
        }

        return SubmitReadResult.Invalid(refused.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));
    }

    private static bool TooManyMetadataEntries(JsonElement root) =>
        Find(root, "metadata", ignoreCase: true) is [{ ValueKind: JsonValueKind.Object } metadata] && metadata.GetPropertyCount() > JobLimits.MaxMetadataEntries;

    /// <summary>The field the serializer refused, the metadata key when one entry is at fault, and why.</summary>
    private static (string Field, string? Key, string Message) Refusal(JsonElement root, JsonException error)
    {
        // The path names a known field ("$.prompt", "$.metadata.key"), or the root ("$") when a name
        // there cannot be read: in well-formed JSON, an escaped lone surrogate.
        var path = error.Path ?? "$";
        // The path names the field as the client wrote it ("$.MaxTokens"): fields are read in any case.
        var field = path.Length > 2 ? Canonical(path[2..].Split('.', '[')[0]) : "body";
        var values = field == "body" ? [] : Find(root, field, ignoreCase: true);
        var value = values.FirstOrDefault();
        var key = path.Length > "$.metadata".Length ? path["$.metadata".Length..].TrimStart('.').Trim('[', ']', '\'') : null;
        var entry = key is null || value.ValueKind != JsonValueKind.Object ? [] : Find(value, key, ignoreCase: false);
        var message = field switch
        {
            "body" => "A property name contains an invalid Unicode escape (a lone surrogate).",
            _ when values.Count > 1 => "The property appears more than once.",
            // A string the serializer refused holds an escape it cannot read, whatever type the field takes.
            _ when HasLoneSurrogate(value) => $"{field} contains an invalid Unicode escape (a lone surrogate).",
            "prompt" => $"prompt must be a string, not {Describe(value.ValueKind)}.",
            "model" => "model must be a string or null.",
            "maxTokens" => $"maxTokens must be an integer from 1 to {JobLimits.MaxTokens:N0}.",
            "temperature" => "temperature must be a number from 0 to 2.",
            "metadata" when value.ValueKind != JsonValueKind.Object => $"metadata must be an object of string values, not {Describe(value.ValueKind)}.",
            "metadata" when key is null || CharacterLengthAttribute.Count(key) is 0 or > JobLimits.MaxMetadataKeyLength => $"metadata keys must be 1 to {JobLimits.MaxMetadataKeyLength} characters of valid Unicode.",
            "metadata" when entry.Count > 1 => $"metadata['{key}'] appears more than once.",
            "metadata" when entry.FirstOrDefault().ValueKind is not JsonValueKind.String and var kind => $"metadata['{key}'] must be a string, not {Describe(kind)}.",
            "metadata" => $"metadata['{key}'] contains an invalid Unicode escape (a lone surrogate).",
            _ => $"{field} is not valid.",
        };
        var entryAtFault = field == "metadata" && value.ValueKind == JsonValueKind.Object && values.Count == 1;
        return (field, entryAtFault ? key ?? "" : null, message);
    }

    /// <summary>
    /// The object without <paramref name="field"/> (every occurrence), or without one metadata entry
    /// when <paramref name="key"/> names it ("" for entries whose names cannot be read); names
    /// that cannot be read go with the root's refusal ("body"). Values are copied as they were
    /// written (raw), since one may hold an escape the writer would refuse (a lone surrogate).
    /// </summary>
    private static byte[] Without(JsonElement root, string field, string? key)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                var isField = Name(property) is { } read && string.Equals(read, field, StringComparison.OrdinalIgnoreCase);
                if (Name(property) is not { } name || (isField && key is null))
                {
                    continue;
                }

                writer.WritePropertyName(name);
                if (!isField)
                {
                    writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(property.Value), skipInputValidation: true);
                    continue;
                }

                writer.WriteStartObject();
                foreach (var item in property.Value.EnumerateObject())
                {
                    if (Name(item) is { } itemName && itemName != key)
                    {
                        writer.WritePropertyName(itemName);
                        writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(item.Value), skipInputValidation: true);
                    }
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static string? Name(JsonProperty property)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            return null; // an escaped lone surrogate
        }
    }

    /// <summary>
    /// A field's documented name, however the client cased it (as the serializer matched it): the
    /// names the serializer writes, read from its contract, so a field added to the request is known here.
    /// </summary>
    private static string Canonical(string field) =>
        ApiJsonContext.Default.SubmitJobRequest.Properties.FirstOrDefault(p => string.Equals(p.Name, field, StringComparison.OrdinalIgnoreCase))?.Name
        ?? field;

    /// <summary>
    /// The values of <paramref name="name"/> in an object, up to the first name that cannot be read:
    /// in any case for the body's fields, exactly for a metadata entry's key (keys are the client's data).
    /// </summary>
    private static List<JsonElement> Find(JsonElement parent, string name, bool ignoreCase)
    {
        var found = new List<JsonElement>();
        try
        {
            foreach (var property in parent.EnumerateObject())
            {
                if (ignoreCase ? string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase) : property.NameEquals(name))
                {
                    found.Add(property.Value);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate in a later name: the serializer stopped before it, at this field.
        }

        return found;
    }

    /// <summary>Whether the value is, or (an array) holds, a string with an escaped lone surrogate.</summary>
    private static bool HasLoneSurrogate(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Array:
                return value.EnumerateArray().Any(HasLoneSurrogate);
            case JsonValueKind.String:
                try
                {
                    _ = value.GetString();
                    return false;
                }
                catch (InvalidOperationException)
                {
                    return true; // "Cannot transcode invalid UTF-16": the only string the reader cannot give back
                }

            default:
                return false;
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "an object",
    };
}
