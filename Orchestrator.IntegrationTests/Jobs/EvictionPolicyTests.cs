using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// An evicting <c>maxmemory-policy</c> can delete the jobs stream itself (the review saw 11 jobs
/// stay <c>queued</c> for ever under <c>allkeys-lru</c>): the API and the Worker refuse to run on
/// one, with exit code 1 and one line saying why and how to fix it, no stack trace.
/// </summary>
[Collection(RedisFaultProcessCollection.Name)]
public sealed class EvictionPolicyTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(90);

    [Theory]
    [InlineData("api")]
    [InlineData("worker")]
    public async Task Start_RedisEvictsAllKeysLru_ProcessExits1SayingWhyWithoutStackTrace(string service)
    {
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions
        {
            Config = new Dictionary<string, string> { ["maxmemory"] = "64mb", ["maxmemory-policy"] = "allkeys-lru" },
        }, TestContext.Current.CancellationToken);

        // The API is built beside the worker (both are project references of the tests).
        var assembly = service == "api"
            ? WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", "Orchestrator.Api", StringComparison.Ordinal)
            : WorkerProcess.WorkerAssemblyPath;
        await using var process = ServiceProcess.Start(service, assembly, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });

        Assert.True(await process.WaitForExitAsync(ExitTimeout, TestContext.Current.CancellationToken),
            $"{service} did not exit within {ExitTimeout}:{Environment.NewLine}{process.Tail()}");
        Assert.True(process.ExitCode == 1, $"{service} exited with {process.ExitCode}:{Environment.NewLine}{process.Tail()}");
        var output = process.Output;
        var line = Assert.Single(output.Split('\n'), l => l.Contains("maxmemory-policy is 'allkeys-lru'", StringComparison.Ordinal));
        Assert.Contains("set maxmemory-policy to noeviction", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);

        // It ran nothing: no consumer group, no job.
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.False(await connection.GetDatabase().KeyExistsAsync(new RedisKeys().Stream));
    }

    // A service started while Redis's record of the layout was out of reach (a cluster's {orch}:meta
    // master down, the others up) and configured with another count wrote jobs to the partitions it
    // reached, under keys no other service reads, until its reconnect's check stopped it (an outside
    // audit: 3 of 5 acknowledged jobs answered 404 for good). Now no write goes before the count matched.
    [Fact]
    public async Task LayoutCheckRequired_OtherPartitionCount_NothingWrittenRefusedAsNotReady_TheRightCountWrites()
    {
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions(), TestContext.Current.CancellationToken);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.True((await new JobStore(connection, new RedisKeys(partitions: 2)).CheckPartitionsAsync()).Matches);

        var wrong = new JobStore(connection, new RedisKeys(partitions: 3));
        wrong.RequireLayoutCheck();
        var refusals = new List<Exception>
        {
            await Assert.ThrowsAsync<LayoutNotCheckedException>(() => wrong.DispatchAndClaimAsync("w", 4, TimeSpan.FromSeconds(1), JobStore.NewToken(), startAttempt: true)),
            await Assert.ThrowsAsync<LayoutNotCheckedException>(() => wrong.ReclaimExpiredAsync("w", TimeSpan.FromSeconds(1), 4)),
            await Assert.ThrowsAsync<LayoutNotCheckedException>(() => wrong.ClaimWebhooksAsync(4, TimeSpan.FromSeconds(1), "lease")),
            await Assert.ThrowsAsync<LayoutNotCheckedException>(() => wrong.CheckedLayoutAsync().AsTask()),
        };

        Assert.All(refusals, e => Assert.Equal(RedisFailureKind.NotReady, RedisFailure.Classify(e)));
        Assert.True(wrong.LayoutCheckPending);
        // The third partition's keys were never written.
        var server = connection.GetServer(redis.ConnectionString);
        Assert.Empty(await server.KeysAsync(pattern: "{orch:2}*").ToListAsync(TestContext.Current.CancellationToken));

        var right = new JobStore(connection, new RedisKeys(partitions: 2));
        await right.EnsureConsumerGroupAsync();
        right.RequireLayoutCheck();
        Assert.True(right.LayoutCheckPending);
        Assert.Empty(await right.DispatchAndClaimAsync("w", 4, TimeSpan.FromSeconds(1), JobStore.NewToken(), startAttempt: true));
        Assert.False(right.LayoutCheckPending);
    }

    [Fact]
    public async Task Start_RedisUnreachable_ThenUpWithOtherPartitionCount_WorkerExits1SayingWhy()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // Data laid out in 2 partitions ({orch}:meta), kept on disk across the restart below.
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true }, cancellationToken);
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            Assert.True((await new JobStore(connection, new RedisKeys(partitions: 2)).CheckPartitionsAsync()).Matches);
        }

        await redis.StopAsync(cancellationToken);
        await using var worker = ServiceProcess.Start("worker", WorkerProcess.WorkerAssemblyPath, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString + ",abortConnect=false",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });
        // It starts on an unreachable Redis (it cannot know the count yet) and is checked once Redis answers.
        await AsyncWait.WaitUntilAsync(() => worker.HasExited || worker.Output.Contains("will be checked when it connects", StringComparison.Ordinal),
            ExitTimeout, "the worker says Redis is not reachable yet");
        Assert.False(worker.HasExited, worker.Tail());
        await redis.StartAsync(cancellationToken);

        Assert.True(await worker.WaitForExitAsync(ExitTimeout, cancellationToken), $"the worker did not exit within {ExitTimeout}:{Environment.NewLine}{worker.Tail()}");
        Assert.True(worker.ExitCode == 1, $"the worker exited with {worker.ExitCode}:{Environment.NewLine}{worker.Tail()}");
        Assert.Single(worker.Output.Split('\n'), l => l.Contains("Jobs:Partitions is 1 but the job data in Redis is laid out in 2", StringComparison.Ordinal));
        // A stop the host asked for, not a crash (while Redis was down, its retries logged their exceptions).
        Assert.DoesNotContain("Unhandled exception", worker.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_ConfigDisabledByProvider_ReadsThePolicyFromInfo()
    {
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions
        {
            ExtraArguments = ["--maxmemory-policy", "volatile-lru", "--rename-command", "CONFIG", ""],
        }, TestContext.Current.CancellationToken);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var logger = new FakeLogger<EvictionPolicyGuard>();
        var guard = new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger);

        Assert.False(await guard.CheckAtStartAsync());
        Assert.Contains("'volatile-lru'", logger.LatestRecord.Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Critical, logger.LatestRecord.Level);
    }

    [Fact]
    public async Task Check_ConfigAndInfoDisabledByProvider_WarnsAndLetsTheServiceStart()
    {
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions
        {
            ExtraArguments = ["--rename-command", "CONFIG", "", "--rename-command", "INFO", ""],
        }, TestContext.Current.CancellationToken);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var logger = new FakeLogger<EvictionPolicyGuard>();
        var guard = new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger);

        Assert.True(await guard.CheckAtStartAsync());
        Assert.Equal(LogLevel.Warning, logger.LatestRecord.Level);
        Assert.Contains("Could not read Redis maxmemory-policy", logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_NoEviction_Accepts()
    {
        await using var redis = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true }, TestContext.Current.CancellationToken);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var logger = new FakeLogger<EvictionPolicyGuard>();
        var guard = new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger);

        Assert.True(await guard.CheckAtStartAsync());
        Assert.Empty(logger.Collector.GetSnapshot());
    }

    // A Redis without an append-only file or a snapshot loses every job when it restarts (an outside
    // audit killed one: 237 accepted jobs answered 404 after, and the services said nothing of it at start).
    [Fact]
    public async Task Check_RedisPersistsNothing_WarnsNamingTheNode_AndLetsTheServiceStart()
    {
        await using var redis = await RedisServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var logger = new FakeLogger<EvictionPolicyGuard>();
        var guard = new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger);

        Assert.True(await guard.CheckAtStartAsync());
        var warning = Assert.Single(logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains($"Redis at 127.0.0.1:{redis.Port} persists nothing (appendonly no, save \"\")", warning.Message, StringComparison.Ordinal);
    }
}
