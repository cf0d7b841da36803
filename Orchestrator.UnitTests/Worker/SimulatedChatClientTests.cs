using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

public sealed class SimulatedChatClientTests
{
    private static readonly TimeSpan Progress = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _clock = new();

    private SimulatedChatClient Client(double failureRate = 0, TimeSpan? latency = null, int? seed = null, double permanentFailureRate = 0) =>
        new(Options.Create(new SimulatorOptions
        {
            FailureRate = failureRate,
            PermanentFailureRate = permanentFailureRate,
            Latency = latency ?? TimeSpan.Zero,
            Seed = seed,
        }), _clock);

    private static ChatOptions Call(int attempt = 1, Dictionary<string, string>? metadata = null) => new()
    {
        AdditionalProperties = new AdditionalPropertiesDictionary
        {
            [SimulatorHints.AttemptProperty] = attempt,
            [SimulatorHints.MetadataProperty] = metadata,
        },
    };

    private static Task<ChatResponse> Ask(SimulatedChatClient client, ChatOptions? options = null) =>
        client.GetResponseAsync([new ChatMessage(ChatRole.User, "What is a lease?")], options ?? Call(), TestContext.Current.CancellationToken);

    [Fact]
    public async Task GetResponse_Latency_CompletesOnlyOnceTheClockAdvancesByIt()
    {
        var client = Client(latency: TimeSpan.FromMilliseconds(300));

        var response = Ask(client);
        Assert.False(response.IsCompleted);
        _clock.Advance(TimeSpan.FromMilliseconds(299));
        Assert.False(response.IsCompleted);
        _clock.Advance(TimeSpan.FromMilliseconds(1));

        var answer = await response.WaitAsync(Progress, TestContext.Current.CancellationToken);
        Assert.False(string.IsNullOrWhiteSpace(answer.Text));
    }

    [Fact]
    public async Task GetResponse_LatencyHint_OverridesConfiguredLatency()
    {
        var client = Client(latency: TimeSpan.FromSeconds(10));

        var response = Ask(client, Call(metadata: new() { [SimulatorHints.LatencyMs] = "50" }));
        _clock.Advance(TimeSpan.FromMilliseconds(50));

        await response.WaitAsync(Progress, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task GetResponse_Cancelled_StopsWaiting()
    {
        var client = Client(latency: TimeSpan.FromSeconds(10));
        using var cancellation = new CancellationTokenSource();

        var response = client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")], Call(), cancellation.Token);
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => response.WaitAsync(Progress, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GetResponse_FailureRateZero_AlwaysAnswersWithTokenUsage()
    {
        var client = Client(failureRate: 0);

        for (var i = 0; i < 200; i++)
        {
            var answer = await Ask(client).WaitAsync(Progress, TestContext.Current.CancellationToken);
            Assert.False(string.IsNullOrWhiteSpace(answer.Text));
            Assert.Equal("simulated-llm", answer.ModelId);
            Assert.True(answer.Usage?.InputTokenCount > 0);
            Assert.True(answer.Usage?.OutputTokenCount > 0);
        }
    }

    [Fact]
    public async Task GetResponse_FailureRateOne_AlwaysFailsTransiently()
    {
        var client = Client(failureRate: 1);

        for (var i = 0; i < 200; i++)
        {
            await Assert.ThrowsAsync<LlmException>(() => Ask(client).WaitAsync(Progress, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task GetResponse_PermanentFailureRateOne_AlwaysFailsPermanently()
    {
        var client = Client(permanentFailureRate: 1);

        for (var i = 0; i < 50; i++)
        {
            await Assert.ThrowsAsync<LlmException>(() => Ask(client).WaitAsync(Progress, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task GetResponse_SameSeed_SameSequenceOfFailures()
    {
        var first = await Outcomes(Client(failureRate: 0.5, seed: 42));
        var second = await Outcomes(Client(failureRate: 0.5, seed: 42));
        var other = await Outcomes(Client(failureRate: 0.5, seed: 43));

        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
        // A rate of 0.5 really mixes outcomes.
        Assert.InRange(first.Count(failed => failed), 20, 80);

        static async Task<List<bool>> Outcomes(SimulatedChatClient client)
        {
            var outcomes = new List<bool>();
            for (var i = 0; i < 100; i++)
            {
                try
                {
                    await Ask(client).WaitAsync(Progress, TestContext.Current.CancellationToken);
                    outcomes.Add(false);
                }
                catch (LlmException e) when (e.Kind == LlmErrorKind.Transient)
                {
                    outcomes.Add(true);
                }
            }

            return outcomes;
        }
    }

    [Fact]
    public async Task GetResponse_FailFirstAttemptsHint_FailsThoseAttemptsThenAnswers()
    {
        var client = Client(failureRate: 0);
        var metadata = new Dictionary<string, string> { [SimulatorHints.FailFirstAttempts] = "2" };

        await Assert.ThrowsAsync<LlmException>(() => Ask(client, Call(1, metadata)).WaitAsync(Progress, TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<LlmException>(() => Ask(client, Call(2, metadata)).WaitAsync(Progress, TestContext.Current.CancellationToken));
        var answer = await Ask(client, Call(3, metadata)).WaitAsync(Progress, TestContext.Current.CancellationToken);

        Assert.False(string.IsNullOrWhiteSpace(answer.Text));
    }

    [Fact]
    public async Task GetResponse_PermanentFailureHint_FailsPermanentlyOnEveryAttempt()
    {
        var client = Client(failureRate: 0);
        var metadata = new Dictionary<string, string> { [SimulatorHints.PermanentFailure] = "true" };

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await Assert.ThrowsAsync<LlmException>(() => Ask(client, Call(attempt, metadata)).WaitAsync(Progress, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task GetResponse_FailureRateHint_OverridesConfiguredRate()
    {
        var client = Client(failureRate: 0);
        var metadata = new Dictionary<string, string> { [SimulatorHints.FailureRate] = "1" };

        await Assert.ThrowsAsync<LlmException>(() => Ask(client, Call(1, metadata)).WaitAsync(Progress, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GetResponse_MaxOutputTokens_BoundsTheAnswer()
    {
        var client = Client();

        var answer = await Ask(client, new ChatOptions { MaxOutputTokens = 5, ModelId = "tiny" }).WaitAsync(Progress, TestContext.Current.CancellationToken);

        Assert.True(answer.Usage?.OutputTokenCount <= 5, $"output tokens {answer.Usage?.OutputTokenCount}");
        Assert.Equal("tiny", answer.ModelId);
    }

    [Fact]
    public async Task GetResponse_CutAtMaxOutputTokens_FinishesWithLength_UncutWithStop()
    {
        var client = Client();

        var cut = await Ask(client, new ChatOptions { MaxOutputTokens = 5, ModelId = "tiny" }).WaitAsync(Progress, TestContext.Current.CancellationToken);
        var whole = await Ask(client, new ChatOptions { MaxOutputTokens = 1_000, ModelId = "tiny" }).WaitAsync(Progress, TestContext.Current.CancellationToken);

        Assert.Equal(ChatFinishReason.Length, cut.FinishReason);
        Assert.Equal(ChatFinishReason.Stop, whole.FinishReason);
    }
}
