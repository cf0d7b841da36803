using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// The bound on a Redis reply the client lost (<see cref="RedisReply"/>). Regression: a command
/// caught in a connection failure was left with no reply and no timeout, and the API's group commit
/// stopped every submission queued behind it (20 submissions made while Redis was down did not end
/// within 30 s).
/// </summary>
public sealed class RedisReplyTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task WithinAsync_NoReply_EndsAtTheBoundInATimeoutTheRedisPipelineRetries()
    {
        var lost = new TaskCompletionSource<RedisResult>();
        var wait = RedisReply.WithinAsync(lost.Task, Bound, _time);

        _time.Advance(Bound - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        var e = await Assert.ThrowsAsync<RedisTimeoutException>(() => wait);
        Assert.Equal(CommandStatus.Unknown, e.Commandstatus);
        Assert.True(RedisFailure.IsTransient(e));
        Assert.Contains("outcome is unknown", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithinAsync_ReplyInTime_IsTheReply()
    {
        var reply = new TaskCompletionSource<long>();
        var wait = RedisReply.WithinAsync(reply.Task, Bound, _time);
        _time.Advance(Bound / 2);
        reply.SetResult(42);

        Assert.Equal(42, await wait);
    }

    [Fact]
    public async Task WithinAsync_TheClientsOwnTimeout_PassesThroughUnchanged()
    {
        var clients = new RedisTimeoutException("Timeout awaiting response (outbound=0KiB, inbound=0KiB, 5000ms elapsed)", CommandStatus.Sent);
        var reply = new TaskCompletionSource<long>();
        var wait = RedisReply.WithinAsync(reply.Task, Bound, _time);
        reply.SetException(clients);

        Assert.Same(clients, await Assert.ThrowsAsync<RedisTimeoutException>(() => wait));
    }

    [Fact]
    public async Task GroupCommit_ABatchWhoseReplyIsLost_FailsAtTheBoundAndTheNextBatchIsWritten()
    {
        var lost = new TaskCompletionSource<string>();
        var writer = new EchoWriter(_time, lost.Task);
        var first = writer.WriteAsync("lost");
        // The writer waits on the lost reply: what arrives now queues behind it.
        await writer.WaitingForTheLostReply.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var queued = Enumerable.Range(0, 3).Select(i => writer.WriteAsync($"queued {i}")).ToArray();
        Assert.DoesNotContain(queued, t => t.IsCompleted);

        _time.Advance(Bound);

        await Assert.ThrowsAsync<RedisTimeoutException>(() => first.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(["queued 0", "queued 1", "queued 2"], await Task.WhenAll(queued).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    /// <summary>Answers each item with itself, except the item "lost", whose reply never comes.</summary>
    private sealed class EchoWriter(TimeProvider time, Task<string> lostReply) : GroupCommit<string, string>("test.batch.size")
    {
        private readonly TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Ends once the batch with the lost item waits for its replies (the bound's timer is set).</summary>
        public Task WaitingForTheLostReply => _waiting.Task;

        public Task<string> WriteAsync(string item) => CommitAsync(item, null, CancellationToken.None);

        protected override Task WriteBatchAsync(List<Pending> batch)
        {
            Task<string>[] replies = [.. batch.Select(p => RedisReply.WithinAsync(p.Item == "lost" ? lostReply : Task.FromResult(p.Item), Bound, time))];
            if (batch.Exists(p => p.Item == "lost"))
            {
                _waiting.SetResult();
            }

            return CompleteEachAsync(batch, replies);
        }
    }
}
