using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Api;

/// <summary>
/// Reads a time a client sends only with its UTC offset (<c>Z</c> or <c>±hh:mm</c>): the default
/// reading of one without (<c>2026-12-01T00:00:00</c>) takes the server's time zone, which the
/// client cannot see. One without is a <see cref="JsonException"/> at its member, so a 400 names it.
/// </summary>
internal sealed class OffsetTimeConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // Read as a DateTime too, only for its Kind: Unspecified is the one reading that had no offset.
        if (reader.TokenType != JsonTokenType.String
            || !reader.TryGetDateTimeOffset(out var time)
            || !reader.TryGetDateTime(out var kind) || kind.Kind == DateTimeKind.Unspecified)
        {
            throw new JsonException("Expected an ISO 8601 date and time with a UTC offset.");
        }

        return time;
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}
