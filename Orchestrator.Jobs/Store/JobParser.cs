using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>Turns the job hash and history list (as the Lua scripts write them) into a <see cref="Job"/>.</summary>
internal static class JobParser
{
    public static Job Parse(HashEntry[] fields, RedisValue[] history)
    {
        var map = new Dictionary<string, string>(fields.Length, StringComparer.Ordinal);
        foreach (var field in fields)
        {
            map[field.Name!] = field.Value!;
        }

        return Parse(map, history);
    }

    /// <summary>
    /// A job from a script's flat field, value, … reply (HGETALL shape), without its history. A field
    /// may appear twice (claim.lua appends what it changed); the later value wins.
    /// </summary>
    public static Job Parse(ReadOnlySpan<RedisResult> fields)
    {
        var map = new Dictionary<string, string>(fields.Length / 2, StringComparer.Ordinal);
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            map[(string)fields[i]!] = (string)fields[i + 1]!;
        }

        return Parse(map, []);
    }

    public static Job Parse(IReadOnlyDictionary<string, string> map, RedisValue[] history)
    {
        var metadata = map.TryGetValue(JobFields.Metadata, out var metadataJson)
            ? JsonSerializer.Deserialize(metadataJson, JobsJsonContext.Default.DictionaryStringString)
            : null;

        return new Job
        {
            Id = map[JobFields.Id],
            Tenant = map.GetValueOrDefault(JobFields.Tenant) ?? TenantNames.Default,
            Status = map[JobFields.Status],
            Request = new JobRequest(
                map[JobFields.Prompt],
                map.GetValueOrDefault(JobFields.Model),
                Int(map, JobFields.MaxTokens),
                map.TryGetValue(JobFields.Temperature, out var t) ? double.Parse(t, CultureInfo.InvariantCulture) : null,
                metadata,
                map.TryGetValue(JobFields.FallbackModels, out var fallbacks)
                    ? JsonSerializer.Deserialize(fallbacks, JobsJsonContext.Default.IReadOnlyListString)
                    : null,
                map.GetValueOrDefault(JobFields.CallbackUrl),
                map.GetValueOrDefault(JobFields.Priority)),
            Attempts = Int(map, JobFields.Attempts) ?? 0,
            MaxAttempts = Int(map, JobFields.MaxAttempts),
            Deliveries = Int(map, JobFields.Deliveries) ?? 0,
            CreatedAt = Time(map, JobFields.CreatedAt) ?? DateTimeOffset.UnixEpoch,
            UpdatedAt = Time(map, JobFields.UpdatedAt) ?? DateTimeOffset.UnixEpoch,
            FirstAttemptAt = Time(map, JobFields.FirstAttemptAt),
            CompletedAt = Time(map, JobFields.CompletedAt),
            NextAttemptAt = Time(map, JobFields.NextAttemptAt),
            Result = Json(map, JobFields.Result, JobsJsonContext.Default.JobResult),
            Error = Json(map, JobFields.Error, JobsJsonContext.Default.JobError),
            History = [.. history.Select(ParseAttempt)],
            Suspect = map.GetValueOrDefault(JobFields.Suspect) is "1" or "2",
            SuspectAlone = map.GetValueOrDefault(JobFields.Suspect) == "2",
            UnchargedAttempts = Int(map, JobFields.SharedLosses) ?? 0,
            RateLimitWait = TimeSpan.FromMilliseconds(long.Parse(map.GetValueOrDefault(JobFields.RateLimitWaitMs) ?? "0", CultureInfo.InvariantCulture)),
            TraceParent = map.GetValueOrDefault(JobFields.TraceParent),
            TraceState = map.GetValueOrDefault(JobFields.TraceState),
            WebhookCount = Int(map, JobFields.Webhooks) ?? 0,
        };
    }

    private static AttemptRecord ParseAttempt(RedisValue json)
    {
        var stored = JsonSerializer.Deserialize((string)json!, JobsJsonContext.Default.StoredAttempt)!;
        return new AttemptRecord(
            stored.Attempt,
            DateTimeOffset.FromUnixTimeMilliseconds(stored.StartedAt),
            stored.EndedAt is { } ended ? DateTimeOffset.FromUnixTimeMilliseconds(ended) : null,
            stored.Outcome,
            stored.Error,
            stored.RetryDelayMs,
            stored.Model,
            stored.Usage);
    }

    private static int? Int(IReadOnlyDictionary<string, string> map, string field) =>
        map.TryGetValue(field, out var value) && value.Length > 0 ? int.Parse(value, CultureInfo.InvariantCulture) : null;

    private static DateTimeOffset? Time(IReadOnlyDictionary<string, string> map, string field) =>
        map.TryGetValue(field, out var value) && value.Length > 0
            ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(value, CultureInfo.InvariantCulture))
            : null;

    private static T? Json<T>(IReadOnlyDictionary<string, string> map, string field, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
        where T : class =>
        map.TryGetValue(field, out var value) && value.Length > 0 ? JsonSerializer.Deserialize(value, type) : null;
}
