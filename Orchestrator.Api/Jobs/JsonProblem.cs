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
    /// first what is wrong with the document as a whole (syntax, depth, one reader pass), then which
    /// field is wrong, from <see cref="JsonException.Path"/> and the value found there.
    /// </summary>
    public static SubmitReadResult From(ReadOnlySpan<byte> body, JsonException error)
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

        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return SubmitRequestReader.BadRequest($"The request body must be a JSON object, not {Describe(root.ValueKind)}.");
        }

        // The path names a known field ("$.prompt", "$.metadata.key"), or the root ("$") when a name
        // there cannot be read: in well-formed JSON, an escaped lone surrogate.
        var path = error.Path ?? "$";
        var field = path.Length > 2 ? path[2..].Split('.', '[')[0] : "body";
        var values = field == "body" ? [] : Find(root, field);
        var value = values.FirstOrDefault();
        var key = path.Length > "$.metadata".Length ? path["$.metadata".Length..].TrimStart('.').Trim('[', ']', '\'') : null;
        var entry = key is null || value.ValueKind != JsonValueKind.Object ? [] : Find(value, key);
        var message = field switch
        {
            "body" => "A property name contains an invalid Unicode escape (a lone surrogate).",
            _ when values.Count > 1 => "The property appears more than once.",
            "prompt" when value.ValueKind == JsonValueKind.String => "prompt contains an invalid Unicode escape (a lone surrogate).",
            "prompt" => $"prompt must be a string, not {Describe(value.ValueKind)}.",
            "model" => "model must be a string or null.",
            "maxTokens" => $"maxTokens must be an integer from 1 to {JobLimits.MaxTokens:N0}.",
            "temperature" => "temperature must be a number from 0 to 2.",
            "metadata" when value.ValueKind != JsonValueKind.Object => $"metadata must be an object of string values, not {Describe(value.ValueKind)}.",
            "metadata" when key is null => $"metadata keys must be 1 to {JobLimits.MaxMetadataKeyLength} characters of valid Unicode.",
            "metadata" when entry.Count > 1 => $"metadata['{key}'] appears more than once.",
            "metadata" when entry.FirstOrDefault().ValueKind is not JsonValueKind.String and var kind => $"metadata['{key}'] must be a string, not {Describe(kind)}.",
            "metadata" => $"metadata['{key}'] contains an invalid Unicode escape (a lone surrogate).",
            _ => $"{field} is not valid.",
        };
        return SubmitReadResult.Invalid(new Dictionary<string, string[]> { [field] = [message] });
    }

    /// <summary>The values of <paramref name="name"/> in an object, up to the first name that cannot be read.</summary>
    private static List<JsonElement> Find(JsonElement parent, string name)
    {
        var found = new List<JsonElement>();
        try
        {
            foreach (var property in parent.EnumerateObject())
            {
                if (property.NameEquals(name))
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
