namespace Orchestrator.Jobs;

/// <summary>Field names of the job hash; the Lua scripts use the same literals.</summary>
internal static class JobFields
{
    public const string Id = "id";
    public const string Tenant = "tenant";
    public const string Status = "status";
    public const string Prompt = "prompt";
    public const string Model = "model";
    public const string MaxTokens = "maxTokens";
    public const string Temperature = "temperature";
    public const string Metadata = "metadata";
    public const string FallbackModels = "fallbackModels";
    public const string Attempts = "attempts";
    public const string MaxAttempts = "maxAttempts";
    public const string Deliveries = "deliveries";
    public const string CreatedAt = "createdAt";
    public const string UpdatedAt = "updatedAt";
    public const string FirstAttemptAt = "firstAttemptAt";
    public const string CompletedAt = "completedAt";
    public const string NextAttemptAt = "nextAttemptAt";
    public const string Result = "result";
    public const string Error = "error";
    public const string RetentionMs = "retentionMs";
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";
    public const string Suspect = "suspect";
    public const string SharedLosses = "sharedLosses";
    public const string ReleasedAttempts = "releasedAttempts";
    public const string HandedBack = "handedBack";
    public const string LostAttempt = "lostAttempt";
    public const string RateLimitWaitMs = "rateLimitWaitMs";
    public const string Booking = "booking";
    public const string CallbackUrl = "callbackUrl";
    public const string Priority = "priority";
    public const string Webhooks = "webhooks";
}
