using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>The webhook outbox (issue 19): deliveries enqueued by <c>finalize</c>, leased and recorded by workers.</summary>
public sealed partial class JobStore
{
    /// <summary>How many of a job's latest webhook deliveries <see cref="GetAsync"/> reads.</summary>
    public const int WebhooksShown = 10;

    /// <summary>
    /// Leases up to <paramref name="limit"/> due deliveries for <paramref name="lease"/> under a new
    /// token: until the lease lapses no other worker takes them. Expired records are dropped.
    /// </summary>
    /// <remarks>Each partition has its outbox: they are asked in turn, from a different one each call, until <paramref name="limit"/> are leased.</remarks>
    public Task<IReadOnlyList<LeasedWebhook>> ClaimWebhooksAsync(int limit, TimeSpan lease, string leaseToken) =>
        FromPartitionsAsync(Partitions == 1 ? 0 : NextPartition(), limit, (partition, wanted) => ClaimWebhooksAsync(_keys.For(partition), wanted, lease, leaseToken));

    private async Task<LeasedWebhook[]> ClaimWebhooksAsync(RedisKeys keys, int limit, TimeSpan lease, string leaseToken)
    {
        var reply = (RedisResult[])(await LuaScripts.ClaimWebhooks.EvaluateAsync(Db, [keys.WebhookOutbox, keys.SlotSettled],
            [(long)lease.TotalMilliseconds, limit, leaseToken]).ConfigureAwait(false))!;
        var leased = new LeasedWebhook[reply.Length];
        for (var n = 0; n < reply.Length; n++)
        {
            var item = reply[n];
            var entry = (RedisResult[])item!;
            var map = new Dictionary<string, string>(entry.Length / 2, StringComparer.Ordinal);
            for (var i = 1; i + 1 < entry.Length; i += 2)
            {
                map[(string)entry[i]!] = (string)entry[i + 1]!;
            }

            leased[n] = new LeasedWebhook(ParseWebhook((string)entry[0]!, map, []), leaseToken,
                map.GetValueOrDefault(JobFields.TraceParent), map.GetValueOrDefault(JobFields.TraceState),
                map.GetValueOrDefault(JobFields.Tenant) ?? TenantNames.Default);
        }

        return leased;
    }

    /// <summary>
    /// Records one try of a leased delivery: whether the receiver answered 2xx, its status (0:
    /// none) and why not. Without a 2xx the next try is due <paramref name="retryDelay"/> later on
    /// Redis's clock, unless that is more than <paramref name="maxAge"/> after the first try: then
    /// the delivery is given up. Returns what was recorded, or null when the lease was lost (another
    /// worker holds the delivery now) and nothing was written. Re-sendable: a call that already
    /// applied answers as the first time. The try is dated <paramref name="sinceSent"/> before now on
    /// Redis's clock: when it was sent, not when its answer (or its timeout) came.
    /// </summary>
    public async Task<WebhookRecord?> RecordWebhookAsync(
        LeasedWebhook leased, bool delivered, int statusCode, string? error, TimeSpan retryDelay, TimeSpan maxAge, TimeSpan sinceSent)
    {
        var id = leased.Delivery.Id;
        var reply = (RedisResult[])(await LuaScripts.RecordWebhook.EvaluateAsync(Db,
            [_keys.ForJob(leased.Delivery.JobId).WebhookOutbox, _keys.Webhook(id), _keys.WebhookAttempts(id)],
            [
                leased.LeaseToken,
                delivered ? "1" : "0",
                statusCode,
                error ?? string.Empty,
                (long)retryDelay.TotalMilliseconds,
                (long)maxAge.TotalMilliseconds,
                (long)sinceSent.TotalMilliseconds,
            ]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "stale" => null,
            "delivered" => new WebhookRecord(WebhookOutcome.Delivered, null),
            "retrying" => new WebhookRecord(WebhookOutcome.Retrying, DateTimeOffset.FromUnixTimeMilliseconds((long)reply[1])),
            "failed" => new WebhookRecord(WebhookOutcome.Failed, null),
            var other => throw new InvalidOperationException($"record-webhook.lua answered '{other}'."),
        };
    }

    /// <summary>
    /// Hands back a leased delivery unsent (<c>release-webhook.lua</c>): due again after
    /// <paramref name="wait"/> on Redis's clock, no try counted. False when the lease no longer holds
    /// (lapsed, or a re-send of a release that applied). Re-sendable.
    /// </summary>
    public async Task<bool> ReleaseWebhookAsync(LeasedWebhook leased, TimeSpan wait) =>
        (long)(await LuaScripts.ReleaseWebhook.EvaluateAsync(Db,
            [_keys.ForJob(leased.Delivery.JobId).WebhookOutbox, _keys.Webhook(leased.Delivery.Id)],
            [leased.LeaseToken, (long)wait.TotalMilliseconds]).ConfigureAwait(false)) == 1;

    /// <summary>
    /// Drops outbox members whose delivery record has expired, looking at most at <paramref name="limit"/>
    /// of each partition's outbox from its cursor (<c>prune-expired.lua</c>): the claims drop only those due.
    /// </summary>
    /// <returns>The members dropped and looked at, over all partitions.</returns>
    public Task<(long Dropped, long Looked, bool More)> PruneWebhookOutboxAsync(int limit) => PruneExpiredAsync(k => k.WebhookOutbox, limit, "webhook");

    /// <summary>Deliveries in the outbox: waiting for a try, or being sent (ZCARD).</summary>
    public async Task<long> CountWebhookOutboxAsync() =>
        (await Task.WhenAll(_keys.All.Select(k => Db.SortedSetLengthAsync(k.WebhookOutbox))).ConfigureAwait(false)).Sum();

    /// <summary>The job's latest deliveries (at most <see cref="WebhooksShown"/>), oldest first; expired ones are left out.</summary>
    private async Task<IReadOnlyList<WebhookDelivery>> GetWebhooksAsync(Job job)
    {
        var first = Math.Max(1, job.WebhookCount - WebhooksShown + 1);
        var batch = Db.CreateBatch();
        var reads = new List<(string Id, Task<HashEntry[]> Record, Task<RedisValue[]> Tries)>();
        for (var n = first; n <= job.WebhookCount; n++)
        {
            var id = $"{job.Id}.{n.ToString(CultureInfo.InvariantCulture)}";
            reads.Add((id, batch.HashGetAllAsync(_keys.Webhook(id)), batch.ListRangeAsync(_keys.WebhookAttempts(id))));
        }

        batch.Execute();
        var deliveries = new List<WebhookDelivery>(reads.Count);
        foreach (var (id, record, tries) in reads)
        {
            var fields = await record.ConfigureAwait(false);
            var stored = await tries.ConfigureAwait(false);
            if (fields.Length > 0)
            {
                deliveries.Add(ParseWebhook(id, fields.ToDictionary(f => (string)f.Name!, f => (string)f.Value!, StringComparer.Ordinal), stored));
            }
        }

        return deliveries;
    }

    private static WebhookDelivery ParseWebhook(string id, Dictionary<string, string> map, RedisValue[] tries)
    {
        string? Text(string field) => map.TryGetValue(field, out var value) && value.Length > 0 ? value : null;
        DateTimeOffset? Time(string field) => Text(field) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ms, CultureInfo.InvariantCulture)) : null;
        int? Int(string field) => Text(field) is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : null;

        return new WebhookDelivery(
            id,
            map["jobId"],
            map["url"],
            map["type"],
            map["jobStatus"],
            Time("completedAt") ?? DateTimeOffset.UnixEpoch,
            Text("error") is { } error ? JsonSerializer.Deserialize(error, JobsJsonContext.Default.JobError) : null,
            Time("createdAt") ?? DateTimeOffset.UnixEpoch,
            map.GetValueOrDefault("status") ?? "pending",
            Int("attempts") ?? 0,
            Time("firstAttemptAt"),
            Time("lastAttemptAt"),
            Int("lastStatusCode"),
            Text("lastError"),
            Time("nextAttemptAt"),
            Time("deliveredAt"),
            [.. tries.Select(static t => JsonSerializer.Deserialize((string)t!, JobsJsonContext.Default.StoredWebhookTry)!)
                .Select(static t => new WebhookTry(DateTimeOffset.FromUnixTimeMilliseconds(t.At), t.StatusCode, t.Error))]);
    }
}
