using System.Text.Json;
using System.Text.Json.Serialization;
using Orchestrator.Jobs;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The body of a webhook, in the Standard Webhooks shape <c>{"type", "timestamp", "data"}</c>. Built
/// only from the delivery record, which is fixed when the delivery is enqueued, so every try of one
/// delivery sends the same bytes.
/// </summary>
internal static class WebhookPayload
{
    public static byte[] Serialize(WebhookDelivery delivery) => JsonSerializer.SerializeToUtf8Bytes(
        new WebhookBody(
            delivery.Type,
            delivery.CompletedAt.UtcDateTime,
            new WebhookJobData(delivery.JobId, delivery.JobStatus, delivery.CompletedAt.UtcDateTime, delivery.Error)),
        WebhookJsonContext.Default.WebhookBody);
}

/// <summary>A webhook's body: the event type, when it happened (the job's <c>completedAt</c>), and the job.</summary>
internal sealed record WebhookBody(string Type, DateTime Timestamp, WebhookJobData Data);

/// <summary>The job a webhook is about; <c>GET /jobs/{jobId}</c> gives the rest (result, history).</summary>
internal sealed record WebhookJobData(string JobId, string Status, DateTime CompletedAt, JobError? Error);

// Times as the API writes them (fixed-width milliseconds), so a body's completedAt equals the job's.
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(WebhookBody))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
