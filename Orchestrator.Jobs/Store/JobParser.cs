using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>Turns the job hash (as the Lua scripts write it) into a <see cref="Job"/>.</summary>
internal static class JobParser
{
    /// <summary>
    /// The job from its hash, its history from the hash's <c>attempt:&lt;n&gt;</c> fields (includes/job.lua
    /// [history]) after the entries <paramref name="listed"/> still holds, the attempts of a job that
    /// started before the history moved into the hash.
    /// </summary>
    public static Job Parse(HashEntry[] fields, RedisValue[] listed)
    {
        var map = new Dictionary<string, string>(fields.Length, StringComparer.Ordinal);
        List<(int Attempt, RedisValue Entry)>? attempts = null;
        foreach (var field in fields)
        {
            var name = (string)field.Name!;
            if (name.StartsWith(AttemptPrefix, StringComparison.Ordinal)
                && int.TryParse(name.AsSpan(AttemptPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var attempt))
            {
                (attempts ??= []).Add((attempt, field.Value));
                continue;
            }

            map[name] = field.Value!;
        }

        if (attempts is null)
        {
            return Parse(map, listed);
        }

        attempts.Sort((a, b) => a.Attempt.CompareTo(b.Attempt));
        return Parse(map, [.. listed, .. attempts.Select(a => a.Entry)]);
    }

    /// <summary>
    /// A job from a claim's packed reply (includes/claim.lua), without its history: field, value, …
    /// (HGETALL shape) joined by byte 255, which UTF-8 never holds. A field may appear twice (the claim
    /// appends what it changed); the later value wins. Only the fields a <see cref="Job"/> holds are
    /// decoded, their names taken from <see cref="JobFields"/> rather than allocated.
    /// </summary>
    /// <exception cref="FormatException">A name without a value: not a claim's reply.</exception>
    public static Job ParsePacked(ReadOnlySpan<byte> packed)
    {
        var map = new Dictionary<string, string>(KnownFields.Count, StringComparer.Ordinal);
        Span<char> name = stackalloc char[MaxFieldName];
        var last = false;
        while (!last)
        {
            var nameBytes = Take(ref packed, ref last);
            if (last)
            {
                throw new FormatException("The job's fields end with a name without a value.");
            }

            var value = Take(ref packed, ref last);
            if (nameBytes.Length <= MaxFieldName
                && Encoding.UTF8.TryGetChars(nameBytes, name, out var length)
                && KnownNames.TryGetValue(name[..length], out var known))
            {
                map[known] = Encoding.UTF8.GetString(value);
            }
        }

        return Parse(map, []);

        static ReadOnlySpan<byte> Take(ref ReadOnlySpan<byte> rest, ref bool last)
        {
            var end = rest.IndexOf(PackedSeparator);
            if (end < 0)
            {
                last = true;
                var all = rest;
                rest = default;
                return all;
            }

            var item = rest[..end];
            rest = rest[(end + 1)..];
            return item;
        }
    }

    private const byte PackedSeparator = 0xFF;

    // Attempt n's history entry is the field 'attempt:<n>' (not a JobFields name: one per attempt).
    private const string AttemptPrefix = "attempt:";

    // Every JobFields name, so a packed field is matched without allocating its name.
    private static readonly HashSet<string> KnownFields = typeof(JobFields)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.IsLiteral)
        .Select(f => (string)f.GetRawConstantValue()!)
        .ToHashSet(StringComparer.Ordinal);

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> KnownNames =
        KnownFields.GetAlternateLookup<ReadOnlySpan<char>>();

    private static readonly int MaxFieldName = KnownFields.Max(n => n.Length);

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
            UnchargedAttempts = (Int(map, JobFields.SharedLosses) ?? 0) + (Int(map, JobFields.ReleasedAttempts) ?? 0),
            HandedBack = map.GetValueOrDefault(JobFields.HandedBack) == "1",
            LostAttempt = LostAttempt(map),
            RateLimitWait = TimeSpan.FromMilliseconds(long.Parse(map.GetValueOrDefault(JobFields.RateLimitWaitMs) ?? "0", CultureInfo.InvariantCulture)),
            Booking = map.GetValueOrDefault(JobFields.Booking),
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

    /// <summary>A claim's <c>lostAttempt</c>, <c>&lt;n&gt;:&lt;startedAt&gt;:&lt;endedAt&gt;</c> (Unix ms), as the history entry it closed.</summary>
    private static AttemptRecord? LostAttempt(IReadOnlyDictionary<string, string> map)
    {
        if (map.GetValueOrDefault(JobFields.LostAttempt)?.Split(':') is not [var attempt, var started, var ended])
        {
            return null;
        }

        return new AttemptRecord(
            int.Parse(attempt, CultureInfo.InvariantCulture),
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(started, CultureInfo.InvariantCulture)),
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ended, CultureInfo.InvariantCulture)),
            AttemptOutcome.WorkerLost,
            new JobError(AttemptOutcome.WorkerLost, "The worker running this attempt stopped before recording an outcome."),
            RetryDelayMs: null);
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
