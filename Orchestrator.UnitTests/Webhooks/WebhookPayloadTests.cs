using System.Text;
using Orchestrator.Jobs;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>A webhook body writes its times as the API does: fixed-width, three fraction digits.</summary>
public sealed class WebhookPayloadTests
{
    [Theory]
    [InlineData(110, "2026-12-04T21:18:09.110Z")]
    [InlineData(0, "2026-12-04T21:18:09.000Z")]
    [InlineData(702, "2026-12-04T21:18:09.702Z")]
    public void Serialize_CompletedAtWithTrailingZeros_KeepsThreeFractionDigits(int milliseconds, string expected)
    {
        var completedAt = new DateTimeOffset(2026, 12, 4, 21, 18, 9, milliseconds, TimeSpan.Zero);

        var body = Encoding.UTF8.GetString(WebhookPayload.Serialize(Delivery(completedAt)));

        Assert.Contains($"\"timestamp\":\"{expected}\"", body, StringComparison.Ordinal);
        Assert.Contains($"\"completedAt\":\"{expected}\"", body, StringComparison.Ordinal);
    }

    [Fact]
    public void Serialize_CompletedAtWithOffset_IsWrittenInUtc()
    {
        var completedAt = new DateTimeOffset(2026, 12, 4, 22, 18, 9, 500, TimeSpan.FromHours(1));

        var body = Encoding.UTF8.GetString(WebhookPayload.Serialize(Delivery(completedAt)));

        Assert.Contains("\"timestamp\":\"2026-12-04T21:18:09.500Z\"", body, StringComparison.Ordinal);
    }

    private static WebhookDelivery Delivery(DateTimeOffset completedAt) => new(
        Id: "msg_1", JobId: "job-1", Url: "https://example.com/hook", Type: "job.completed", JobStatus: "completed",
        CompletedAt: completedAt, Error: null, CreatedAt: completedAt, Status: "pending", Attempts: 0,
        FirstAttemptAt: null, LastAttemptAt: null, LastStatusCode: null, LastError: null,
        NextAttemptAt: null, DeliveredAt: null, Tries: []);
}
