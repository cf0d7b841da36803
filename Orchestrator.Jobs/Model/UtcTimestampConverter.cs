using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Jobs;

/// <summary>
/// Writes a time as fixed-width ISO-8601 UTC with milliseconds (<c>2026-11-28T02:51:28.940Z</c>), the
/// precision the store keeps and the contract every answer and webhook body promises: the default
/// format drops trailing zeros (<c>…28.94Z</c>). The API's answers and the worker's webhook bodies
/// both write with it, so a time reads the same in either.
/// </summary>
public sealed class UtcTimestampConverter : JsonConverter<DateTime>
{
    /// <summary>The format written; <c>'Z'</c> is literal because the value is made UTC first.</summary>
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private const int Length = 24;

    /// <inheritdoc />
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.GetDateTime().ToUniversalTime();

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options)
    {
        Span<byte> buffer = stackalloc byte[Length];
        value.ToUniversalTime().TryFormat(buffer, out var written, Format, CultureInfo.InvariantCulture);
        writer.WriteStringValue(buffer[..written]);
    }
}
