using System.Text.Json;
using Orchestrator.Api;
using Orchestrator.Api.Jobs;

namespace Orchestrator.UnitTests.Api;

/// <summary>Times are written fixed-width with milliseconds, trailing zeros kept.</summary>
public sealed class UtcTimestampConverterTests
{
    [Theory]
    [InlineData(940, "2026-11-28T02:51:28.940Z")]
    [InlineData(0, "2026-11-28T02:51:28.000Z")]
    [InlineData(7, "2026-11-28T02:51:28.007Z")]
    public void Serialize_TimeWithTrailingZeroMilliseconds_KeepsThreeDigits(int milliseconds, string expected)
    {
        var at = new DateTime(2026, 11, 28, 2, 51, 28, milliseconds, DateTimeKind.Utc);

        var json = JsonSerializer.Serialize(new SubmitJobResponse("id", "queued", at), ApiJsonContext.Default.SubmitJobResponse);

        Assert.Contains($"\"createdAt\":\"{expected}\"", json, StringComparison.Ordinal);
    }
}
