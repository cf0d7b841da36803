using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// A job's events as the store keeps them (includes/job.lua, job events): a list whose elements are
/// numbered events, a few hundred bytes for a job's handful (a stream took ~4.7 KB: Redis gives a new
/// stream's first node 4 KB at once), capped with the numbering kept, and read after the events a
/// job began with in a stream before the list.
/// </summary>
public sealed class JobEventLogTests
{
    private const int MaxAttempts = 3;
    private static readonly JobResult Result = new("Hello, world", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task CompletedJob_EventsNumberedInOrder_ResumeAfterAnyId_UnderAKilobyte()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var claim = await harness.ClaimOneAsync(MaxAttempts);
        var jobId = claim.Lease.JobId;
        Assert.True(await store.AppendDeltaAsync(claim.Lease, 1, 1, "Hello,\nwor").Bounded());
        Assert.True(await store.CompleteAsync(claim.Lease, 1, Result).Bounded());

        var events = await store.ReadEventsAsync(jobId, JobStore.FirstEventId, 100).Bounded();

        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.Id));
        Assert.Equal(["status queued 0", "status processing 1", "delta  1", "status completed 1", "done completed "],
            events.Select(e => $"{e.Type} {e.Status} {e.Attempt}"));
        Assert.Equal("Hello,\nwor", events[2].Text);
        Assert.All(events.Where(e => e.Type == JobEvent.StatusType), e => Assert.NotNull(e.At));
        Assert.Equal(events.Skip(2).Select(e => e.Id), (await store.ReadEventsAsync(jobId, "2", 100).Bounded()).Select(e => e.Id));
        Assert.Equal(["3"], (await store.ReadEventsAsync(jobId, "2", 1).Bounded()).Select(e => e.Id));
        Assert.Empty(await store.ReadEventsAsync(jobId, "5", 100).Bounded());
        // An id past the last event is no event of the job's: told apart from "nothing after it yet".
        Assert.NotNull(await store.TryReadEventsAsync(jobId, "5", 100).Bounded());
        Assert.Null(await store.TryReadEventsAsync(jobId, "6", 100).Bounded());
        Assert.Null(await store.TryReadEventsAsync(jobId, "1700000000000-0", 100).Bounded());

        Assert.Equal(RedisType.List, await harness.Db.KeyTypeAsync(harness.Keys.Events(jobId)).Bounded());
        var bytes = (long)await harness.Db.ExecuteAsync("MEMORY", "USAGE", harness.Keys.Events(jobId)).Bounded();
        Assert.InRange(bytes, 1, 1023);
        Assert.NotNull(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Events(jobId)).Bounded());
    }

    [Fact]
    public async Task EventPage_BoundedByBytesPastItsFirstEvent_SaysMoreFollow()
    {
        // A stream holds what it read until its client takes it: a page is bounded by its stored text.
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var claim = await harness.ClaimOneAsync(MaxAttempts);
        var jobId = claim.Lease.JobId;
        for (var batch = 1; batch <= 4; batch++)
        {
            Assert.True(await store.AppendDeltaAsync(claim.Lease, 1, batch, new string((char)('a' + batch), 30_000)).Bounded());
        }

        // queued, processing (small), then 30,000-byte deltas: 64 KB takes the first two of them.
        var first = (await store.TryReadEventPageAsync(jobId, JobStore.FirstEventId, 100, 64 * 1024).Bounded())!;
        Assert.Equal(["1", "2", "3", "4"], first.Events.Select(e => e.Id));
        Assert.True(first.More);
        // One event larger than the bound still comes, alone.
        var alone = (await store.TryReadEventPageAsync(jobId, "4", 100, 1_000).Bounded())!;
        Assert.Equal(["5"], alone.Events.Select(e => e.Id));
        Assert.True(alone.More);
        var last = (await store.TryReadEventPageAsync(jobId, "5", 100, 64 * 1024).Bounded())!;
        Assert.Equal(["6"], last.Events.Select(e => e.Id));
        Assert.False(last.More);
        // Without a bound, the count alone: as before.
        Assert.Equal(6, (await store.TryReadEventsAsync(jobId, JobStore.FirstEventId, 100).Bounded())!.Count);
        Assert.True((await store.TryReadEventPageAsync(jobId, JobStore.FirstEventId, 6, maxBytes: null).Bounded())!.More);
    }

    [Fact]
    public async Task PastTheCap_OldestDropped_IdsKeepCounting_DoneKept()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var claim = await harness.ClaimOneAsync(MaxAttempts);
        var jobId = claim.Lease.JobId;
        const int Deltas = RedisKeys.MaxEventsPerJob + 5;
        for (var batch = 1; batch <= Deltas; batch++)
        {
            Assert.True(await store.AppendDeltaAsync(claim.Lease, 1, batch, $"piece {batch}").Bounded());
        }

        Assert.True(await store.CompleteAsync(claim.Lease, 1, Result).Bounded());

        // queued, processing, the deltas, completed, done: the first nine of them were dropped.
        var total = Deltas + 4;
        var dropped = total - RedisKeys.MaxEventsPerJob;
        Assert.Equal(RedisKeys.MaxEventsPerJob, await harness.Db.ListLengthAsync(harness.Keys.Events(jobId)).Bounded());
        var first = await store.ReadEventsAsync(jobId, JobStore.FirstEventId, 3).Bounded();
        Assert.Equal([$"{dropped + 1}", $"{dropped + 2}", $"{dropped + 3}"], first.Select(e => e.Id));
        Assert.Equal($"piece {dropped - 1}", first[0].Text);
        // An id among the dropped ones resumes from the oldest kept, as a trimmed stream did.
        Assert.Equal(first.Select(e => e.Id), (await store.ReadEventsAsync(jobId, "2", 3).Bounded()).Select(e => e.Id));
        var middle = Assert.Single(await store.ReadEventsAsync(jobId, "500", 1).Bounded());
        Assert.Equal(("501", "piece 499"), (middle.Id, middle.Text));
        var last = await store.ReadEventsAsync(jobId, $"{total - 2}", 100).Bounded();
        Assert.Equal([($"{total - 1}", JobEvent.StatusType), ($"{total}", JobEvent.Done)], last.Select(e => (e.Id, e.Type)));
    }

    [Fact]
    public async Task EventsBegunInAStream_ReadBeforeTheList_ResumedFromEitherId_ExpireAndPersistWithTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var claim = await harness.ClaimOneAsync(maxAttempts: 1);
        var jobId = claim.Lease.JobId;
        // As a job submitted before the events moved: its 'queued' event in a stream, not in the list.
        var events = harness.Keys.Events(jobId);
        var legacy = harness.Keys.LegacyEvents(jobId);
        Assert.StartsWith("status queued 0 ", (string?)await harness.Db.ListLeftPopAsync(events).Bounded());
        var queuedId = (string)(await harness.Db.StreamAddAsync(legacy,
            [new("type", "status"), new("status", "queued"), new("attempt", "0"), new("at", "1700000000000")]).Bounded())!;

        Assert.True(await store.FailAsync(claim.Lease, 1, AttemptOutcome.PermanentFailure, new JobError("invalid-request", "no")).Bounded());

        var all = await store.ReadEventsAsync(jobId, JobStore.FirstEventId, 100).Bounded();
        Assert.Equal([(queuedId, "queued"), ("1", "processing"), ("2", "failed"), ("3", null)], all.Select(e => (e.Id, e.Type == JobEvent.Done ? null : e.Status)));
        Assert.Equal((0, DateTimeOffset.FromUnixTimeMilliseconds(1700000000000)), (all[0].Attempt, all[0].At!.Value));
        Assert.Equal(["1", "2", "3"], (await store.ReadEventsAsync(jobId, queuedId, 100).Bounded()).Select(e => e.Id));
        Assert.Equal([queuedId, "1"], (await store.ReadEventsAsync(jobId, JobStore.FirstEventId, 2).Bounded()).Select(e => e.Id));
        Assert.Equal(["3"], (await store.ReadEventsAsync(jobId, "2", 100).Bounded()).Select(e => e.Id));
        // A stream id after the stream's last entry is none of the job's (the list is numbered apart).
        var (ms, sequence) = (queuedId[..queuedId.IndexOf('-')], long.Parse(queuedId[(queuedId.IndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Null(await store.TryReadEventsAsync(jobId, $"{ms}-{sequence + 1}", 100).Bounded());
        Assert.Null(await store.TryReadEventsAsync(jobId, "4", 100).Bounded());

        Assert.NotNull(await harness.Db.KeyTimeToLiveAsync(legacy).Bounded());
        Assert.Equal(RedriveOutcome.Redriven, await store.RedriveAsync(jobId, RedriveFilter.Any).Bounded());
        Assert.Null(await harness.Db.KeyTimeToLiveAsync(legacy).Bounded());
        Assert.Null(await harness.Db.KeyTimeToLiveAsync(events).Bounded());
        Assert.Equal(("4", "queued"), (await store.ReadEventsAsync(jobId, "3", 100).Bounded()).Select(e => (e.Id, e.Status)).Single());
    }
}
