using System.Text.Json.Serialization;

namespace Orchestrator.Jobs;

/// <summary>
/// An attempt as the Lua scripts store it (times in Unix ms). Numbers may come back from Lua's
/// cjson as strings or floats, so reading is lenient.
/// </summary>
internal sealed record StoredAttempt(
    int Attempt,
    long StartedAt,
    long? EndedAt,
    string? Outcome,
    JobError? Error,
    long? RetryDelayMs,
    string? Model = null,
    LlmUsage? Usage = null);

/// <summary>
/// What an attempt's result adds to its history entry (<see cref="StoredAttempt"/>'s model and
/// usage), serialised by the caller so that finish-attempt.lua need not parse the result.
/// </summary>
internal sealed record AttemptSpend(string? Model, LlmUsage Usage);

/// <summary>One try of a webhook delivery as record-webhook.lua stores it (time in Unix ms).</summary>
internal sealed record StoredWebhookTry(long At, int StatusCode, string? Error);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    NumberHandling = JsonNumberHandling.AllowReadingFromString,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoredAttempt))]
[JsonSerializable(typeof(StoredWebhookTry))]
[JsonSerializable(typeof(AttemptSpend))]
[JsonSerializable(typeof(JobResult))]
[JsonSerializable(typeof(JobError))]
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(Dictionary<string, IReadOnlyList<int>>))]
internal sealed partial class JobsJsonContext : JsonSerializerContext;
