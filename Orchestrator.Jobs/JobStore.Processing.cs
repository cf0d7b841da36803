using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// The worker's side of the store: delivery, leases, and the attempt state machine.
public sealed partial class JobStore
{
    /// <summary>Creates the consumer group (and the stream) if missing. Safe to call from every worker.</summary>
    public async Task EnsureConsumerGroupAsync()
    {
        try
        {
            await Db.ExecuteAsync("XGROUP", "CREATE", _keys.Stream, RedisKeys.ConsumerGroup, "0", "MKSTREAM").ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another worker created it first.
        }
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> never-delivered entries, waiting up to
    /// <paramref name="block"/> for one. Blocking ties up a connection, so it runs on a dedicated
    /// <paramref name="blockingConnection"/>, never on the shared multiplexer.
    /// </summary>
    public async Task<IReadOnlyList<Delivery>> ReadNewAsync(
        IConnectionMultiplexer blockingConnection, string consumer, int count, TimeSpan block)
    {
        var reply = await blockingConnection.GetDatabase().ExecuteAsync(
            "XREADGROUP", "GROUP", RedisKeys.ConsumerGroup, consumer,
            "COUNT", count, "BLOCK", (long)block.TotalMilliseconds,
            "STREAMS", _keys.Stream, ">").ConfigureAwait(false);
        if (reply.IsNull)
        {
            return [];
        }

        var deliveries = new List<Delivery>(count);
        foreach (RedisResult stream in (RedisResult[])reply!)
        {
            foreach (RedisResult entry in (RedisResult[])((RedisResult[])stream!)[1]!)
            {
                var parts = (RedisResult[])entry!;
                var fields = (RedisResult[])parts[1]!;
                deliveries.Add(new Delivery((string)parts[0]!, JobIdOf(fields), Reclaimed: false));
            }
        }

        return deliveries;
    }

    /// <summary>
    /// Takes over entries whose holder has not renewed its lease for <paramref name="leaseTimeout"/>
    /// (a crashed, paused or partitioned worker).
    /// </summary>
    public async Task<IReadOnlyList<Delivery>> ReclaimExpiredAsync(string consumer, TimeSpan leaseTimeout, int count)
    {
        var result = await Db.StreamAutoClaimAsync(
            _keys.Stream, RedisKeys.ConsumerGroup, consumer,
            (long)leaseTimeout.TotalMilliseconds, "0-0", count).ConfigureAwait(false);
        return [.. result.ClaimedEntries
            .Where(e => !e.IsNull)
            .Select(e => new Delivery(e.Id!, (string)e["jobId"]!, Reclaimed: true))];
    }

    /// <summary>
    /// Makes the caller the job's lease holder (fencing out any earlier one) and returns the job.
    /// With <paramref name="startAttempt"/>, the same script also starts the next attempt when the
    /// job may start now (as <see cref="StartAttemptAsync"/> would, one round trip fewer); see
    /// <see cref="ClaimResult.StartedAttempt"/>.
    /// </summary>
    public async Task<ClaimResult> ClaimAsync(Delivery delivery, string consumer, int maxAttempts, bool startAttempt = false)
    {
        var lease = new JobLease(delivery.JobId, delivery.EntryId, NewToken(), consumer);
        var reply = (RedisResult[])(await Db.ScriptEvaluateAsync(
            LuaScripts.Claim,
            [_keys.Job(lease.JobId), _keys.History(lease.JobId), _keys.Stream, _keys.DeadLetters],
            [RedisKeys.ConsumerGroup, lease.EntryId, lease.Token, consumer, NowMs, maxAttempts, startAttempt ? "1" : RedisValue.EmptyString])
            .ConfigureAwait(false))!;

        switch ((string)reply[0]!)
        {
            case "missing": return new ClaimResult(ClaimOutcome.Missing, lease, null);
            case "terminal": return new ClaimResult(ClaimOutcome.AlreadyFinal, lease, null);
            case "dead-lettered": return new ClaimResult(ClaimOutcome.DeadLettered, lease, null);
        }

        return new ClaimResult(ClaimOutcome.Claimed, lease, JobParser.Parse(reply.AsSpan(2)), StartedAttempt: (int)reply[1]);
    }

    /// <summary>Extends the lease. False means another worker owns the job now: stop working on it.</summary>
    public async Task<bool> RenewLeaseAsync(JobLease lease) =>
        (long)await Db.ScriptEvaluateAsync(
            LuaScripts.Renew,
            [_keys.Job(lease.JobId), _keys.Stream],
            [RedisKeys.ConsumerGroup, lease.EntryId, lease.Token, lease.Consumer]).ConfigureAwait(false) == 1;

    /// <summary>Records the start of the next attempt, durably, before the LLM is called.</summary>
    public async Task<(StartAttemptOutcome Outcome, int Attempt)> StartAttemptAsync(JobLease lease)
    {
        var reply = (RedisResult[])(await Db.ScriptEvaluateAsync(
            LuaScripts.StartAttempt,
            [_keys.Job(lease.JobId), _keys.History(lease.JobId)],
            [lease.Token, NowMs]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "ok" => (StartAttemptOutcome.Started, (int)reply[1]),
            "exhausted" => (StartAttemptOutcome.Exhausted, 0),
            _ => (StartAttemptOutcome.LeaseLost, 0),
        };
    }

    /// <summary>Stores the result; the job is completed. False when the caller's lease or attempt is stale.</summary>
    public Task<bool> CompleteAsync(JobLease lease, int attempt, JobResult result) =>
        FinishAttemptAsync(lease, attempt, AttemptOutcome.Succeeded, JobStatus.Completed,
            JsonSerializer.Serialize(result, JobsJsonContext.Default.JobResult), error: null, retryDelay: null);

    /// <summary>Records a failed attempt and when the next one starts; the job is retrying.</summary>
    public Task<bool> ScheduleRetryAsync(JobLease lease, int attempt, string outcome, JobError error, TimeSpan delay) =>
        FinishAttemptAsync(lease, attempt, outcome, JobStatus.Retrying, result: null, error, delay);

    /// <summary>Records the final failed attempt; the job is failed and dead-lettered.</summary>
    public Task<bool> FailAsync(JobLease lease, int attempt, string outcome, JobError error) =>
        FinishAttemptAsync(lease, attempt, outcome, JobStatus.Failed, result: null, error, retryDelay: null);

    /// <summary>
    /// Hands a job back at shutdown: the lease is dropped and the entry made claimable at once.
    /// </summary>
    public async Task<bool> ReleaseAsync(JobLease lease) =>
        (long)await Db.ScriptEvaluateAsync(
            LuaScripts.Release,
            [_keys.Job(lease.JobId), _keys.Stream],
            [lease.Token, RedisKeys.ConsumerGroup, lease.EntryId, lease.Consumer, (long)TimeSpan.FromDays(1).TotalMilliseconds])
            .ConfigureAwait(false) == 1;

    /// <summary>
    /// Gives back entries read but never claimed (read while shutting down): they become idle
    /// enough for another worker's next reclaim at once.
    /// </summary>
    public async Task ReturnUnclaimedAsync(string consumer, IReadOnlyList<string> entryIds)
    {
        if (entryIds.Count == 0)
        {
            return;
        }

        var args = new List<object> { _keys.Stream, RedisKeys.ConsumerGroup, consumer, 0 };
        args.AddRange(entryIds);
        args.AddRange(["IDLE", (long)TimeSpan.FromDays(1).TotalMilliseconds, "JUSTID"]);
        await Db.ExecuteAsync("XCLAIM", [.. args]).ConfigureAwait(false);
    }

    private async Task<bool> FinishAttemptAsync(
        JobLease lease, int attempt, string outcome, string nextStatus, string? result, JobError? error, TimeSpan? retryDelay)
    {
        var now = NowMs;
        var reply = await Db.ScriptEvaluateAsync(
            LuaScripts.FinishAttempt,
            [_keys.Job(lease.JobId), _keys.History(lease.JobId), _keys.Stream, _keys.DeadLetters],
            [
                lease.Token, attempt, now, outcome, nextStatus, RedisKeys.ConsumerGroup, lease.EntryId,
                result ?? RedisValue.EmptyString,
                error is null ? RedisValue.EmptyString : JsonSerializer.Serialize(error, JobsJsonContext.Default.JobError),
                retryDelay is { } d ? (long)d.TotalMilliseconds : RedisValue.EmptyString,
                retryDelay is { } d2 ? now + (long)d2.TotalMilliseconds : RedisValue.EmptyString,
            ]).ConfigureAwait(false);
        return (long)reply == 1;
    }

    private static string JobIdOf(RedisResult[] fields)
    {
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            if ((string)fields[i]! == "jobId")
            {
                return (string)fields[i + 1]!;
            }
        }

        throw new InvalidOperationException("Stream entry without a jobId field.");
    }

    private static string NewToken() => Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);
}
