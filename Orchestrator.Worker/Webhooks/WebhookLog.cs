namespace Orchestrator.Worker.Webhooks;

// A webhook's tries are {Try}, never {Attempt}: filtering a job's lines by Attempt must not match them.
internal static partial class WebhookLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhooks:Secret and Webhooks:TenantSecrets are not set: this worker sends no webhooks (deliveries wait in the outbox)")]
    public static partial void NoSecret(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhooks:Secret is not set: this worker signs only the deliveries of tenants with their own secret ({Tenants}); another tenant's are not sent, and are given up at Webhooks:MaxAge")]
    public static partial void TenantSecretsOnly(ILogger logger, string tenants);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {DeliveryId} of job {JobId} delivered on try {Try} ({StatusCode})")]
    public static partial void Delivered(ILogger logger, string deliveryId, string jobId, int @try, int statusCode);

    [LoggerMessage(EventName = "WebhookRetrying", Level = LogLevel.Information, Message = "Webhook {DeliveryId} of job {JobId} try {Try} failed ({StatusCode}, {Error}); next try at {NextAttemptAt}")]
    public static partial void Retrying(ILogger logger, string deliveryId, string jobId, int @try, int statusCode, string? error, DateTimeOffset nextAttemptAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {DeliveryId} of job {JobId} given up after {Try} tries ({StatusCode}, {Error})")]
    public static partial void GivenUp(ILogger logger, string deliveryId, string jobId, int @try, int statusCode, string? error);

    [LoggerMessage(EventName = "WebhookLeaseLost", Level = LogLevel.Warning, Message =
        "Webhook {DeliveryId} of job {JobId}: try {Try} was not recorded: its lease lapsed (another worker has the delivery) or its record expired with the job")]
    public static partial void LeaseLost(ILogger logger, string deliveryId, string jobId, int @try);

    [LoggerMessage(EventName = "WebhookNotHandedBack", Level = LogLevel.Warning, Message = "Webhook {DeliveryId}: not handed back at stop, Redis failed ({Reason}); another worker sends it when its lease lapses")]
    public static partial void NotHandedBack(ILogger logger, string deliveryId, string reason);
}
