using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

public sealed class JobPartitionsTests
{
    [Fact]
    public void OnePartition_KeysAreTheOnePartitionLayoutsExactly()
    {
        var keys = new RedisKeys();

        Assert.Equal(1, keys.Partitions);
        Assert.Same(keys, keys.For(0));
        Assert.Same(keys, keys.ForJob(JobIds.New()));
        Assert.Same(keys, Assert.Single(keys.All));
        Assert.Equal("{orch}:stream", (string?)keys.Stream);
        Assert.Equal("{orch}:delayed", (string?)keys.Delayed);
        Assert.Equal("{orch}:dead", (string?)keys.DeadLetters);
        Assert.Equal("{orch}:dead:acme", (string?)keys.TenantDeadLetters("acme"));
        Assert.Equal("{orch}:jobs", (string?)keys.Jobs);
        Assert.Equal("{orch}:jobs:acme", (string?)keys.TenantJobs("acme"));
        Assert.Equal("{orch}:job:abc", (string?)keys.Job("abc"));
        Assert.Equal("{orch}:job:abc:attempts", (string?)keys.History("abc"));
        Assert.Equal("{orch}:job:abc:eventlog", (string?)keys.Events("abc"));
        Assert.Equal("{orch}:job:abc:events", (string?)keys.LegacyEvents("abc"));
        Assert.Equal("{orch}:events", keys.EventsChannel.ToString());
        Assert.Equal("{orch}:cancel", keys.CancelChannel.ToString());
        Assert.Equal("{orch}:idem:acme:k-1", (string?)keys.Idempotency("acme", "k-1"));
        Assert.Equal("{orch}:webhooks", (string?)keys.WebhookOutbox);
        Assert.Equal("{orch}:webhook:abc.1", (string?)keys.Webhook("abc.1"));
        Assert.Equal("{orch}:webhook:abc.1:attempts", (string?)keys.WebhookAttempts("abc.1"));
        Assert.Equal("{orch}:tenant:acme:queued", (string?)keys.TenantBacklog("acme"));
        Assert.Equal("{orch}:tenant:acme:rpm", (string?)keys.TenantRate("acme"));
        Assert.Equal("{orch}:meta", (string?)keys.Meta);
        Assert.Equal("{orch}", keys.Prefix);
    }

    [Fact]
    public void SixPartitions_EachPartitionsKeysCarryItsOwnTag()
    {
        var keys = new RedisKeys(partitions: 6);

        Assert.Equal(6, keys.All.Count);
        for (var p = 0; p < 6; p++)
        {
            var partition = keys.For(p);
            Assert.Equal(p, partition.Partition);
            Assert.Equal($"{{orch:{p}}}:stream", (string?)partition.Stream);
            Assert.Equal($"{{orch:{p}}}:delayed", (string?)partition.Delayed);
            Assert.Equal($"{{orch:{p}}}:dead:acme", (string?)partition.TenantDeadLetters("acme"));
            Assert.Equal($"{{orch:{p}}}:tenant:acme:queued", (string?)partition.TenantBacklog("acme"));
            Assert.Equal($"{{orch:{p}}}:cancel", partition.CancelChannel.ToString());
        }

        // Not per job: the layout record and the flow control stay under the root tag.
        Assert.Equal("{orch}:meta", (string?)keys.Meta);
        Assert.Equal("{orch}", keys.Prefix);
    }

    [Fact]
    public void SixPartitions_TheRootRoutesAJobsKeysToThePartitionOfItsId()
    {
        var keys = new RedisKeys(partitions: 6);
        for (var i = 0; i < 200; i++)
        {
            var id = JobIds.New();
            var tag = $"{{orch:{JobPartitions.Of(id, 6)}}}";

            Assert.Equal($"{tag}:job:{id}", (string?)keys.Job(id));
            Assert.Equal($"{tag}:job:{id}:attempts", (string?)keys.History(id));
            Assert.Equal($"{tag}:job:{id}:eventlog", (string?)keys.Events(id));
            Assert.Equal($"{tag}:job:{id}:events", (string?)keys.LegacyEvents(id));
            Assert.Equal($"{tag}:webhook:{id}.3", (string?)keys.Webhook($"{id}.3"));
            Assert.Equal($"{tag}:webhook:{id}.3:attempts", (string?)keys.WebhookAttempts($"{id}.3"));
            Assert.Same(keys.For(JobPartitions.Of(id, 6)), keys.ForJob(id));
        }
    }

    [Fact]
    public void AJobsPartitionIsAFunctionOfItsIdAlone()
    {
        // FNV-1a 32 of "abc" is 0x1A47E90B = 440,920,331.
        Assert.Equal((int)(440_920_331u % 6), JobPartitions.Of("abc", 6));
        Assert.Equal(0, JobPartitions.Of("abc", 1));
        var id = JobIds.New();
        Assert.Equal(JobPartitions.Of(id, 6), JobPartitions.Of(new string(id.ToCharArray()), 6));
    }

    [Fact]
    public void NewJobId_LandsInTheChosenPartition_AndIsAnOrdinaryId()
    {
        for (var p = 0; p < 6; p++)
        {
            var id = JobPartitions.NewJobId(p, 6);

            Assert.Equal(p, JobPartitions.Of(id, 6));
            Assert.True(JobIds.IsWellFormed(id));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => JobPartitions.NewJobId(6, 6));
    }

    [Fact]
    public void RandomIds_SpreadEvenlyOverThePartitions()
    {
        var counts = new int[6];
        for (var i = 0; i < 60_000; i++)
        {
            counts[JobPartitions.Of(JobIds.New(), 6)]++;
        }

        // 10,000 expected each; a fair spread stays within ±5 % (about 10 standard deviations).
        Assert.All(counts, c => Assert.InRange(c, 9_500, 10_500));
    }

    [Fact]
    public void AnIdempotencyKeysPartition_DependsOnTenantAndKey_AndItsHashLivesThere()
    {
        var keys = new RedisKeys(partitions: 6);
        var partitions = Enumerable.Range(0, 600).Select(i => JobPartitions.OfIdempotencyKey("acme", $"order-{i}", 6)).ToList();

        Assert.Equal(6, partitions.Distinct().Count());
        Assert.Equal(JobPartitions.OfIdempotencyKey("acme", "order-1", 6), JobPartitions.OfIdempotencyKey("acme", "order-1", 6));
        // The tenant is hashed too: another tenant's same keys land elsewhere (some of them).
        Assert.Contains(Enumerable.Range(0, 50), i =>
            JobPartitions.OfIdempotencyKey("acme", $"k{i}", 6) != JobPartitions.OfIdempotencyKey("globex", $"k{i}", 6));
        var partition = JobPartitions.OfIdempotencyKey("acme", "order-7", 6);
        Assert.Equal($"{{orch:{partition}}}:idem:acme:order-7", (string?)keys.Idempotency("acme", "order-7"));
    }

    [Fact]
    public void ThePartitionCount_IsBounded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RedisKeys(partitions: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RedisKeys(partitions: JobPartitions.Max + 1));
        Assert.Throws<ArgumentException>(() => new RedisKeys("orch", partitions: 2));
    }
}
