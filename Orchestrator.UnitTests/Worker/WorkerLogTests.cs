using Microsoft.Extensions.Logging;
using Orchestrator.Worker.Telemetry;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// A Redis failure the worker waits out is logged on one line, its kind, type and message, without
/// the exception (its stack trace came from every loop at every tick of an outage); any other
/// exception, a bug, keeps it.
/// </summary>
public sealed class WorkerLogTests
{
    [Fact]
    public void RedisUnavailable_TransientFailure_NamesItWithoutTheException()
    {
        var logger = new RecordingLogger();

        WorkerLog.RedisUnavailable(logger, "lease renewal", TimeSpan.FromSeconds(10),
            new RedisConnectionException(ConnectionFailureType.UnableToConnect, "No connection is active/available to service this operation: EVAL"));

        var (message, exception) = Assert.Single(logger.Entries);
        Assert.Equal("Redis unavailable in lease renewal (Unavailable, RedisConnectionException); retrying in 00:00:10: " +
            "No connection is active/available to service this operation: EVAL", message);
        Assert.Null(exception);
    }

    [Fact]
    public void RedisUnavailableForJob_TransientFailure_NamesItWithoutTheException()
    {
        var logger = new RecordingLogger();

        WorkerLog.RedisUnavailableForJob(logger, "defer", "job-1", 2, TimeSpan.Zero, "trace-1", new RedisTimeoutException("Timeout awaiting response", CommandStatus.Sent));

        var (message, exception) = Assert.Single(logger.Entries);
        Assert.Contains("(Unavailable, RedisTimeoutException)", message, StringComparison.Ordinal);
        Assert.EndsWith(": Timeout awaiting response", message, StringComparison.Ordinal);
        Assert.Null(exception);
    }

    [Fact]
    public void RedisUnavailable_NotATransientFailure_KeepsTheExceptionForItsStackTrace()
    {
        var logger = new RecordingLogger();
        var bug = new RedisServerException("WRONGTYPE Operation against a key holding the wrong kind of value");

        WorkerLog.RedisUnavailable(logger, "queue stats", TimeSpan.FromSeconds(5), bug);
        WorkerLog.RedisUnavailableForJob(logger, "release", "job-1", 1, TimeSpan.Zero, null, bug);

        Assert.All(logger.Entries, entry => Assert.Same(bug, entry.Exception));
    }
}

file sealed class RecordingLogger : ILogger
{
    public List<(string Message, Exception? Exception)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Add((formatter(state, exception), exception));
}
