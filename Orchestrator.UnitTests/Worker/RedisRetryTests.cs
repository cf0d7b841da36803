using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Worker.Processing;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// Regression (found by the 10-minute chaos run): a Redis restarting with AOF answers
/// <c>LOADING</c> until its data is back. The worker treated that server error as fatal: the
/// fetch loop threw and the host stopped, so one Redis restart took two of three workers down.
/// It is now "Redis unavailable", retried with backoff like a lost connection.
/// </summary>
public sealed class RedisRetryTests
{
    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory")]
    [InlineData("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")]
    [InlineData("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.")]
    public async Task RunAsync_ServerNotReady_RetriesUntilItAnswers(string error)
    {
        var time = new FakeTimeProvider();
        var calls = 0;
        var run = RedisRetry.RunAsync(
            () => ++calls < 3 ? throw new RedisServerException(error) : Task.FromResult(42),
            "test", NullLogger.Instance, time, TestContext.Current.CancellationToken);

        // Each retry waits on the injected clock: advance it until the third call answers (bounded).
        for (var i = 0; i < 20 && !run.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(2));
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }

        Assert.Equal(42, await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task RunAsync_OtherServerError_IsNotRetried()
    {
        var calls = 0;

        var error = await Assert.ThrowsAsync<RedisServerException>(() => RedisRetry.RunAsync<int>(
            () => { calls++; throw new RedisServerException("ERR user_script:1: Script attempted to access nonexistent global variable"); },
            "test", NullLogger.Instance, new FakeTimeProvider(), TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.StartsWith("ERR", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, calls);
    }

    [Theory]
    [InlineData("LOADING Redis is loading the dataset in memory", true)]
    [InlineData("NOGROUP No such key or consumer group", false)]
    [InlineData("ERR unknown command", false)]
    public void IsUnavailable_ClassifiesServerErrors(string message, bool unavailable)
    {
        Assert.Equal(unavailable, RedisRetry.IsUnavailable(new RedisServerException(message)));
    }
}
