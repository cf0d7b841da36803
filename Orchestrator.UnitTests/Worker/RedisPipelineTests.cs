using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Polly;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// The one definition of a transient Redis failure (<see cref="RedisFailure"/>) and the one policy
/// for it (the <c>redis</c> pipeline). Regressions: LOADING (chaos run: a restarting Redis took two
/// of three workers down), UNBLOCKED and READONLY (a failover stopped every worker for good), OOM (a
/// finished LLM result was thrown away at maxmemory).
/// </summary>
public sealed class RedisPipelineTests
{
    public static TheoryData<string, RedisFailureKind> ServerErrors => new()
    {
        { "LOADING Redis is loading the dataset in memory", RedisFailureKind.NotReady },
        { "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", RedisFailureKind.NotReady },
        { "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", RedisFailureKind.NotReady },
        { "TRYAGAIN Multiple keys request during rehashing of slot", RedisFailureKind.NotReady },
        { "Key has MOVED to Endpoint 127.0.0.1:38997 and hashslot 2179 but CommandFlags.NoRedirect was specified - redirect not followed for EVAL.", RedisFailureKind.NotReady },
        { "MOVED 2179 127.0.0.1:38997", RedisFailureKind.NotReady },
        { "READONLY You can't write against a read only replica.", RedisFailureKind.ReadOnly },
        { "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)", RedisFailureKind.Unblocked },
        { "UNBLOCKED the stream key no longer exists", RedisFailureKind.Unblocked },
        { "OOM command not allowed when used memory > 'maxmemory'.", RedisFailureKind.OutOfMemory },
        { "OOM command not allowed when used memory > 'maxmemory'. script: 1a2b, on @user_script:12.", RedisFailureKind.OutOfMemory },
        { "NOSCRIPT No matching script. Please use EVAL.", RedisFailureKind.NoScript },
        // An outside audit: a Redis that could not save made the API answer 500 and workers drop finished answers.
        { "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.", RedisFailureKind.CannotPersist },
        { "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error. script: 71c3, on @user_script:1.", RedisFailureKind.CannotPersist },
        // A right taken away while running: the same (an API 500, an answer dropped).
        { "NOPERM User default has no permissions to run the 'evalsha' command", RedisFailureKind.PermissionDenied },
        { "ERR The user executing the script can't run this command or subcommand script: 1a2b, on @user_script:3.", RedisFailureKind.PermissionDenied },
        { "NOGROUP No such key '{orch}:stream' or consumer group 'workers' in XREADGROUP with GROUP option", RedisFailureKind.NoGroup },
        { "ERR user_script:1: Script attempted to access nonexistent global variable 'x'", RedisFailureKind.None },
        { "WRONGTYPE Operation against a key holding the wrong kind of value", RedisFailureKind.None },
    };

    [Theory]
    [MemberData(nameof(ServerErrors))]
    public void Classify_ServerError_NamesItsKind(string message, RedisFailureKind kind) =>
        Assert.Equal(kind, RedisFailure.Classify(new RedisServerException(message)));

    [Fact]
    public void Classify_TransportFailures_AreUnavailable()
    {
        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(new RedisConnectionException(ConnectionFailureType.SocketFailure, "down")));
        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(new RedisTimeoutException("slow", CommandStatus.Sent)));
        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(new IOException("Connection reset by peer", new SocketException(104))));
        Assert.Equal(RedisFailureKind.None, RedisFailure.Classify(new InvalidOperationException("a bug")));
    }

    [Fact]
    public void Classify_TaskTheClientCancelledWithoutAToken_IsUnavailable_OursIsNot()
    {
        // What StackExchange.Redis throws for a command it abandoned when the connection broke.
        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(new TaskCanceledException()));
        using var ours = new CancellationTokenSource();
        ours.Cancel();
        Assert.Equal(RedisFailureKind.None, RedisFailure.Classify(new TaskCanceledException("stopping", null, ours.Token)));
        Assert.Equal(RedisFailureKind.None, RedisFailure.Classify(new OperationCanceledException(ours.Token)));
    }

    [Fact]
    public void Classify_WriteSentToANodeAFailoverMadeAReplica_IsReadOnly_OtherCommandErrorsAreNot()
    {
        // The client's own message when its topology is a failover behind (StackExchange.Redis#2181).
        Assert.Equal(RedisFailureKind.ReadOnly, RedisFailure.Classify(new RedisCommandException("Command cannot be issued to a replica: EVALSHA")));
        Assert.Equal(RedisFailureKind.None, RedisFailure.Classify(new RedisCommandException("Multi-key operations must involve a single slot")));
    }

    [Fact]
    public void Classify_WriteToAPipeTheResetCompleted_IsUnavailable()
    {
        // What StackExchange.Redis meets when it writes a command to a connection that just died.
        var pipe = new System.IO.Pipelines.Pipe();
        pipe.Writer.Complete();
        var refused = Assert.Throws<InvalidOperationException>(() => pipe.Writer.GetSpan());

        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(refused));
    }

    [Fact]
    public void Classify_AdvanceOfAPipeTheResetCompletedMidWrite_IsUnavailable_OursIsNot()
    {
        // What StackExchange.Redis meets when the reset completes the pipe between its GetSpan and Advance.
        var pipe = new System.IO.Pipelines.Pipe();
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => pipe.Writer.Advance(-1));

        Assert.Equal(RedisFailureKind.Unavailable, RedisFailure.Classify(refused));
        Assert.Equal(RedisFailureKind.None, RedisFailure.Classify(new ArgumentOutOfRangeException("bytes")));
    }

    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory")]
    [InlineData("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)")]
    [InlineData("READONLY You can't write against a read only replica.")]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.")]
    public async Task Execute_TransientError_RetriesOnTheInjectedClockUntilItAnswers(string error)
    {
        var time = new FakeTimeProvider();
        var pipeline = Pipeline(time, () => Task.CompletedTask);
        var calls = 0;

        var run = pipeline.ExecuteRedisAsync(
            "test", _ => ++calls < 4 ? throw new RedisServerException(error) : Task.FromResult(42), TestContext.Current.CancellationToken).AsTask();
        await FakeClocks.AdvanceUntilDoneAsync(time, run, RedisPipeline.MaxDelay);

        Assert.Equal(42, await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(4, calls);
    }

    [Fact]
    public async Task Execute_OtherError_IsNotRetried()
    {
        var pipeline = Pipeline(new FakeTimeProvider(), () => Task.CompletedTask);
        var calls = 0;

        await Assert.ThrowsAsync<RedisServerException>(() => pipeline.ExecuteRedisAsync<int>(
            "test", _ => { calls++; throw new RedisServerException("ERR user_script:1: bug"); }, TestContext.Current.CancellationToken)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Execute_NoGroup_RecreatesTheGroupBeforeTheNextTry()
    {
        var time = new FakeTimeProvider();
        var recreated = 0;
        var pipeline = Pipeline(time, () => { recreated++; return Task.CompletedTask; });
        var calls = 0;

        var run = pipeline.ExecuteRedisAsync(
            "read", _ => ++calls == 1 ? throw new RedisServerException("NOGROUP No such key") : Task.FromResult(recreated), TestContext.Current.CancellationToken).AsTask();
        await FakeClocks.AdvanceUntilDoneAsync(time, run, RedisPipeline.MaxDelay);

        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Execute_SixCallsOfOneOperationRetryingAtOnce_LogOneLineASecond_CountingTheOthers()
    {
        // A worker's outcome writes, one per partition, with Redis down (an outside audit: 107 lines
        // per worker in 30 s with 6 partitions).
        var time = new FakeTimeProvider();
        var logger = new FakeLogger();
        var pipeline = RedisPipeline.Configure(new ResiliencePipelineBuilder { TimeProvider = time }, logger, () => Task.CompletedTask).Build();
        var start = time.GetUtcNow();

        var writes = Enumerable.Range(0, 6).Select(_ => FailingThenAnswering(pipeline, "record outcomes", failures: 8)).ToList();
        var other = FailingThenAnswering(pipeline, "claim", failures: 1);
        await FakeClocks.AdvanceUntilDoneAsync(time, Task.WhenAll([.. writes, other]), TimeSpan.FromMilliseconds(100));
        await Task.WhenAll([.. writes, other]).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        var lines = logger.Collector.GetSnapshot();
        var outcomeLines = lines.Where(l => l.Message.StartsWith("Redis record outcomes failed (Unavailable", StringComparison.Ordinal)).ToList();
        var seconds = (time.GetUtcNow() - start).TotalSeconds;
        Assert.InRange(outcomeLines.Count, 2, (int)seconds + 1);
        var counted = outcomeLines.Sum(l => int.Parse(Regex.Match(l.Message, @"\((\d+) more retries of it since the last line\)").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.InRange(outcomeLines.Count + counted, 6 * 8 - 6 * 2, 6 * 8);
        Assert.Single(lines, l => l.Message.StartsWith("Redis claim failed (Unavailable", StringComparison.Ordinal));
    }

    private static Task<int> FailingThenAnswering(ResiliencePipeline pipeline, string operation, int failures)
    {
        var calls = 0;
        return pipeline.ExecuteRedisAsync(operation, _ => ++calls <= failures
            ? throw new RedisConnectionException(ConnectionFailureType.SocketFailure, "down")
            : Task.FromResult(calls), TestContext.Current.CancellationToken).AsTask();
    }

    private static ResiliencePipeline Pipeline(TimeProvider time, Func<Task> recreateGroup) =>
        RedisPipeline.Configure(new ResiliencePipelineBuilder { TimeProvider = time }, NullLogger.Instance, recreateGroup).Build();
}
