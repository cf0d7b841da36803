using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Api;

/// <summary>
/// Writes every time as fixed-width ISO-8601 UTC with milliseconds (<c>2026-11-28T02:51:28.940Z</c>),
/// the precision the store keeps: the default format drops trailing zeros (<c>…28.94Z</c>).
/// </summary>
internal sealed class UtcTimestampConverter : JsonConverter<DateTime>
{
    private const string Format = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTime().ToUniversalTime();

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options)
    {
        Span<byte> buffer = stackalloc byte[24];
        value.ToUniversalTime().TryFormat(buffer, out var written, Format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(buffer[..written]);
    }
}
