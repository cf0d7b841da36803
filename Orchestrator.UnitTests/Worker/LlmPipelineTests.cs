using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.Registry;
using Polly.Timeout;

namespace Orchestrator.UnitTests.Worker;

/// <summary>The real "llm" pipeline (retry + per-attempt timeout) on a fake clock.</summary>
public sealed class LlmPipelineTests
{
    // Real time allowed for the pipeline's continuations to run once the fake clock released them.
    private static readonly TimeSpan Progress = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private static RetryOptions Options(int maxAttempts = 4, TimeSpan? attemptTimeout = null) => new()
    {
        MaxAttempts = maxAttempts,
        BaseDelay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromSeconds(60),
        UseJitter = false,
        AttemptTimeout = attemptTimeout ?? TimeSpan.FromSeconds(30),
    };

    [Fact]
    public async Task Execute_TransientFailures_RetriesOnlyAfterEachScheduledDelay()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 4);
        var llm = new ScriptedLlm(_clock, (_, _) => throw new LlmException(LlmErrorKind.Transient, "overloaded"));

        var run = Run(Options(), state, llm);

        await llm.WaitForCallsAsync(1);
        foreach (var (nextCall, delayMs) in new[] { (2, 100), (3, 200), (4, 400) })
        {
            Assert.Equal(TimeSpan.FromMilliseconds(delayMs), state.Retries[^1].Delay);
            _clock.Advance(TimeSpan.FromMilliseconds(delayMs - 1));
            Assert.Equal(nextCall - 1, llm.Calls.Count);

            _clock.Advance(TimeSpan.FromMilliseconds(1));
            await llm.WaitForCallsAsync(nextCall);
        }

        await Assert.ThrowsAsync<LlmException>(() => run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        var start = _clock.Start;
        Assert.Equal([start, start.AddMilliseconds(100), start.AddMilliseconds(300), start.AddMilliseconds(700)], llm.Calls.Select(c => c.At));
        Assert.Equal([1, 2, 3, 4], llm.Calls.Select(c => c.Attempt));
        Assert.Equal(3, state.Retries.Count);
    }

    [Fact]
    public async Task Execute_JobAlreadyAtAttemptTwoOfFive_RunsOnlyAttemptsThreeToFive()
    {
        // Two attempts were used by a worker that died; this worker may only use the remaining three.
        var state = new FakeAttemptState(_clock, attempt: 2, maxAttempts: 5);
        var llm = new ScriptedLlm(_clock, (_, _) => throw new LlmException(LlmErrorKind.Transient, "overloaded"));

        var run = Run(Options(maxAttempts: 5), state, llm);

        await llm.WaitForCallsAsync(1);
        _clock.Advance(TimeSpan.FromMilliseconds(400));
        await llm.WaitForCallsAsync(2);
        _clock.Advance(TimeSpan.FromMilliseconds(800));
        await llm.WaitForCallsAsync(3);
        await Assert.ThrowsAsync<LlmException>(() => run.WaitAsync(Progress, TestContext.Current.CancellationToken));

        Assert.Equal([3, 4, 5], llm.Calls.Select(c => c.Attempt));
        Assert.Equal([TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(800)], state.Retries.Select(r => r.Delay));
        Assert.Equal([3, 4], state.Retries.Select(r => r.Attempt));
    }

    [Fact]
    public async Task Execute_MaxAttemptsOne_DoesNotRetry()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 1);
        var llm = new ScriptedLlm(_clock, (_, _) => throw new LlmException(LlmErrorKind.Transient, "overloaded"));

        await Assert.ThrowsAsync<LlmException>(() => Run(Options(maxAttempts: 1), state, llm).WaitAsync(Progress, TestContext.Current.CancellationToken));

        Assert.Single(llm.Calls);
        Assert.Empty(state.Retries);
    }

    [Fact]
    public async Task Execute_DeploymentWaits_WaitTheAnnouncedTimeWithoutSpendingAttempts_UpToMaxRateLimitWait()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 3);
        var llm = new ScriptedLlm(_clock, (_, _) => throw new CapacityWaitException(TimeSpan.FromSeconds(20), "rate-limited", "openai"));

        var run = Run(Options(), state, llm, maxDeploymentWait: TimeSpan.FromSeconds(50));

        await llm.WaitForCallsAsync(1);
        _clock.Advance(TimeSpan.FromSeconds(20) - TimeSpan.FromMilliseconds(1));
        Assert.Single(llm.Calls);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        await llm.WaitForCallsAsync(2);
        _clock.Advance(TimeSpan.FromSeconds(20));
        await llm.WaitForCallsAsync(3);

        // A third wait would bring the job's total to 60 s, past the 50 s bound: it fails instead.
        var thrown = await Assert.ThrowsAsync<CapacityWaitException>(() => run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        Assert.Equal("rate-limited", AttemptFailure.ErrorOf(thrown).Type);
        Assert.Equal([1, 1, 1], llm.Calls.Select(c => c.Attempt));
        Assert.Empty(state.Retries);
        Assert.Equal(TimeSpan.FromSeconds(40), state.DeploymentWait);
    }

    public static TheoryData<string> PermanentErrors => ["permanent-llm", "http-400"];

    [Theory]
    [MemberData(nameof(PermanentErrors))]
    public async Task Execute_PermanentError_IsNotRetried(string kind)
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 5);
        Exception error = kind == "http-400"
            ? new HttpRequestException("bad request", null, HttpStatusCode.BadRequest)
            : new LlmException(LlmErrorKind.InvalidRequest, "invalid request");
        var llm = new ScriptedLlm(_clock, (_, _) => throw error);

        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => Run(Options(maxAttempts: 5), state, llm).WaitAsync(Progress, TestContext.Current.CancellationToken));

        Assert.Same(error, thrown);
        Assert.Single(llm.Calls);
        Assert.Empty(state.Retries);
    }

    [Fact]
    public async Task Execute_AttemptPastTimeout_IsRejectedAsTimeoutAndRetried()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 3);
        var llm = new ScriptedLlm(_clock, async (attempt, ct) =>
        {
            if (attempt == 1)
            {
                // A provider that never answers: only the pipeline's timeout ends this call.
                await Task.Delay(Timeout.InfiniteTimeSpan, _clock, ct);
            }

            return "answer";
        });

        var run = Run(Options(maxAttempts: 3, attemptTimeout: TimeSpan.FromSeconds(2)), state, llm);

        await llm.WaitForCallsAsync(1);
        _clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromTicks(1));
        Assert.Empty(state.Retries);
        _clock.Advance(TimeSpan.FromTicks(1));
        await AsyncWaitForAsync(() => state.Retries.Count == 1, "the timed-out attempt is recorded as a retry");

        var retry = state.Retries[0];
        Assert.IsType<TimeoutRejectedException>(retry.Exception);
        Assert.Equal(AttemptOutcome.Timeout, AttemptFailure.OutcomeOf(retry.Exception));
        Assert.Equal(TimeSpan.FromMilliseconds(100), retry.Delay);
        Assert.True(llm.Calls[0].Token.IsCancellationRequested, "the timed-out call's token was cancelled");

        _clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal("answer", await run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        Assert.Equal(2, llm.Calls.Count);
    }

    [Fact]
    public async Task Execute_AttemptJustUnderTimeout_Succeeds()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 3);
        var llm = new ScriptedLlm(_clock, async (_, ct) =>
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1_999), _clock, ct);
            return "answer";
        });

        var run = Run(Options(attemptTimeout: TimeSpan.FromSeconds(2)), state, llm);
        await llm.WaitForCallsAsync(1);
        _clock.Advance(TimeSpan.FromMilliseconds(1_999));

        Assert.Equal("answer", await run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        Assert.Empty(state.Retries);
    }

    [Fact]
    public async Task Execute_Retry_RecordsTheDelayBeforeTheWaitBegins()
    {
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 3);
        var recorded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        state.OnRetry = () => new ValueTask(recorded.Task);
        var llm = new ScriptedLlm(_clock, (attempt, _) =>
            attempt == 1 ? throw new LlmException(LlmErrorKind.Transient, "overloaded") : ValueTask.FromResult("answer"));

        var run = Run(Options(), state, llm);
        await llm.WaitForCallsAsync(1);

        // The failure is being recorded (slowly): no amount of clock time starts the next attempt.
        var failedAt = _clock.GetUtcNow();
        Assert.Single(state.Retries);
        Assert.Equal(failedAt, state.Retries[0].At);
        Assert.Equal(TimeSpan.FromMilliseconds(100), state.Retries[0].Delay);
        _clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Single(llm.Calls);

        // Recorded: the 100 ms wait starts now, not at the failure.
        var recordedAt = _clock.GetUtcNow();
        recorded.SetResult();
        await AsyncWaitForAsync(
            () =>
            {
                _clock.Advance(TimeSpan.FromMilliseconds(10));
                return llm.Calls.Count == 2;
            },
            "the second attempt starts once the retry is recorded and the delay has passed");

        Assert.Equal("answer", await run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        Assert.True(llm.Calls[1].At >= recordedAt + TimeSpan.FromMilliseconds(100), $"second attempt at {llm.Calls[1].At:O}, recorded at {recordedAt:O}");
    }

    [Fact]
    public async Task Execute_GettingReadyForAnAttempt_RunsAfterTheRetryWaitAndOutsideTheAttemptTimeout()
    {
        // The worker takes a slot back before each attempt, after the retry's wait: that may take
        // longer than an attempt may (every slot busy), and is not part of the attempt.
        var state = new FakeAttemptState(_clock, attempt: 0, maxAttempts: 3);
        var slotBack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        state.BeforeAttempt = () => state.Retries.Count == 0 ? ValueTask.CompletedTask : new ValueTask(slotBack.Task);
        var llm = new ScriptedLlm(_clock, (attempt, _) =>
            attempt == 1 ? throw new LlmException(LlmErrorKind.Transient, "overloaded") : ValueTask.FromResult("answer"));

        var run = Run(Options(attemptTimeout: TimeSpan.FromSeconds(2)), state, llm);
        await llm.WaitForCallsAsync(1);
        Assert.Equal(1, state.BeforeAttemptCalls);

        _clock.Advance(TimeSpan.FromMilliseconds(100));
        await AsyncWaitForAsync(() => state.BeforeAttemptCalls == 2, "the retry's wait is over: the job gets ready for attempt 2");
        Assert.Equal(_clock.Start.AddMilliseconds(100), state.BeforeAttemptAt[1]);

        // Three attempt timeouts pass while it waits for a slot: nothing times out, no attempt is called.
        _clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Single(llm.Calls);
        Assert.Single(state.Retries);

        slotBack.SetResult();
        Assert.Equal("answer", await run.WaitAsync(Progress, TestContext.Current.CancellationToken));
        Assert.Equal([1, 2], llm.Calls.Select(c => c.Attempt));
        Assert.Single(state.Retries);
    }

    private Task<string> Run(RetryOptions options, FakeAttemptState state, ScriptedLlm llm, TimeSpan? maxDeploymentWait = null)
    {
        var pipeline = LlmPipeline.Configure(new ResiliencePipelineBuilder { TimeProvider = _clock }, options, static () => 0.5, maxDeploymentWait).Build();
        return RunAsync();

        async Task<string> RunAsync()
        {
            var context = ResilienceContextPool.Shared.Get(TestContext.Current.CancellationToken);
            context.Properties.Set(LlmPipeline.StateKey, state);
            try
            {
                // As the processor does: each attempt is first recorded (the persisted count moves on), then the LLM is called.
                return await pipeline.ExecuteAsync(
                    static (ctx, s) =>
                    {
                        // After a wait for the deployment the attempt resumes; otherwise a new one starts.
                        if (!s.State.Resume)
                        {
                            s.State.Attempt++;
                        }

                        s.State.Resume = false;
                        return s.Llm.CallAsync(s.State.Attempt, ctx.CancellationToken);
                    },
                    context,
                    (State: state, Llm: llm));
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    private static Task AsyncWaitForAsync(Func<bool> condition, string because) =>
        AsyncWait.WaitUntilAsync(condition, Progress, because, TimeSpan.FromMilliseconds(5));

    private sealed class FakeAttemptState(FakeTimeProvider clock, int attempt, int maxAttempts) : IAttemptState
    {
        public int Attempt { get; set; } = attempt;

        public int MaxAttempts => maxAttempts;

        public Func<ValueTask>? OnRetry { get; set; }

        public TimeSpan DeploymentWait { get; private set; }

        public List<(int Attempt, TimeSpan Delay, DateTimeOffset At)> Waits { get; } = [];

        public bool Resume { get; set; }

        public ValueTask OnDeploymentWaitAsync(CapacityWaitException wait, TimeSpan delay)
        {
            DeploymentWait += delay;
            Resume = true;
            lock (Waits)
            {
                Waits.Add((Attempt, delay, clock.GetUtcNow()));
            }

            return ValueTask.CompletedTask;
        }

        public List<(int Attempt, Exception Exception, TimeSpan Delay, DateTimeOffset At)> Retries { get; } = [];

        public Func<ValueTask>? BeforeAttempt { get; set; }

        public List<DateTimeOffset> BeforeAttemptAt { get; } = [];

        public int BeforeAttemptCalls
        {
            get
            {
                lock (BeforeAttemptAt)
                {
                    return BeforeAttemptAt.Count;
                }
            }
        }

        public ValueTask BeforeAttemptAsync(CancellationToken cancellationToken)
        {
            lock (BeforeAttemptAt)
            {
                BeforeAttemptAt.Add(clock.GetUtcNow());
            }

            return BeforeAttempt?.Invoke() ?? ValueTask.CompletedTask;
        }

        public ValueTask OnRetryAsync(Exception exception, TimeSpan delay)
        {
            lock (Retries)
            {
                Retries.Add((Attempt, exception, delay, clock.GetUtcNow()));
            }

            return OnRetry?.Invoke() ?? ValueTask.CompletedTask;
        }
    }

    [Fact]
    public async Task RegisteredPipeline_AttemptTimesOut_PollyWritesNoLine()
    {
        // The worker's own outcome line names the job; Polly's (a timeout at Error) named none.
        var categories = new ConcurrentQueue<string>();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(new CategoryRecorder(categories)));
        services.AddSingleton(TimeProvider.System);
        services.Configure<RetryOptions>(o => o.AttemptTimeout = TimeSpan.FromMilliseconds(50));
        services.Configure<LlmOptions>(_ => { });
        services.AddLlmPipeline();
        await using var provider = services.BuildServiceProvider();
        var pipeline = provider.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(LlmPipeline.Name);

        await Assert.ThrowsAsync<TimeoutRejectedException>(() => pipeline.ExecuteAsync(
            static async ct => await Task.Delay(Timeout.InfiniteTimeSpan, ct), TestContext.Current.CancellationToken).AsTask());

        Assert.DoesNotContain(categories, c => c.StartsWith("Polly", StringComparison.Ordinal));
    }

    /// <summary>Records the category of every line written at any level.</summary>
    private sealed class CategoryRecorder(ConcurrentQueue<string> categories) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Recorder(categoryName, categories);

        public void Dispose()
        {
        }

        private sealed class Recorder(string category, ConcurrentQueue<string> categories) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                categories.Enqueue(category);
        }
    }

    /// <summary>An LLM call that records when (on the fake clock) and with which attempt it ran.</summary>
    private sealed class ScriptedLlm(FakeTimeProvider clock, Func<int, CancellationToken, ValueTask<string>> behaviour)
    {
        private readonly SemaphoreSlim _called = new(0);

        public ConcurrentQueue<(int Attempt, DateTimeOffset At, CancellationToken Token)> CallQueue { get; } = new();

        public IReadOnlyList<(int Attempt, DateTimeOffset At, CancellationToken Token)> Calls => [.. CallQueue];

        public ValueTask<string> CallAsync(int attempt, CancellationToken cancellationToken)
        {
            CallQueue.Enqueue((attempt, clock.GetUtcNow(), cancellationToken));
            _called.Release();
            return behaviour(attempt, cancellationToken);
        }

        public async Task WaitForCallsAsync(int count)
        {
            await AsyncWait.WaitUntilAsync(() => CallQueue.Count >= count, TimeSpan.FromSeconds(10),
                $"the LLM was called {count} time(s) (so far {CallQueue.Count})", TimeSpan.FromMilliseconds(5));
        }
    }
}
