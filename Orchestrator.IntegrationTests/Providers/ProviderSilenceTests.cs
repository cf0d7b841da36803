using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Resilience;

using static Orchestrator.IntegrationTests.Providers.FakeAnswer;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// <c>Llm:StreamIdleTimeout</c> against a <see cref="FakeProvider"/> that pauses for real over HTTP: a
/// provider silent that long, before its answer or in the middle of it, is cut as a <c>timeout</c>
/// within the limit, not at <c>Retry:AttemptTimeout</c> (10 minutes here, the default); an answer
/// that streams steadily for longer than the limit in all is whole; a silence after the
/// <c>finish_reason</c> leaves the answer whole; a provider's own limit (<c>Llm:Providers:{p}:StreamIdleTimeout</c>) wins.
/// </summary>
public sealed class ProviderSilenceTests
{
    private static readonly TimeSpan IdleLimit = TimeSpan.FromMilliseconds(800);
    private static readonly TimeSpan Silence = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task SilentBeforeItsFirstChunk_CutAtTheIdleLimit_AsATimeout()
    {
        // The headers go with a keep-alive comment; then nothing.
        var (outcome, took) = await CallAsync(Paced((TimeSpan.Zero, KeepAlive), (Silence, Chunk("Hello.", "stop")), (TimeSpan.Zero, Done)));

        var timeout = Assert.IsType<CallTimeoutException>(outcome.Exception);
        Assert.Equal("The provider sent nothing for Llm:StreamIdleTimeout (00:00:00.8000000) before its answer began.", timeout.Message);
        Assert.Equal((AttemptOutcome.Timeout, "timeout"), (AttemptFailure.OutcomeOf(timeout), AttemptFailure.ErrorOf(timeout).Type));
        Assert.True(took < Silence / 2, $"cut after {took.TotalMilliseconds:0} ms");
    }

    // The fake sends its headers with its first event: none came. No read tells of a header's bytes,
    // so the message says only that they did not come (an outside audit: a provider trickling them a
    // byte a second was said to have "sent nothing").
    [Fact]
    public async Task NoResponseHeaders_CutAtTheIdleLimit_SayingTheyDidNotCome()
    {
        var (outcome, took) = await CallAsync(Paced((Silence, Chunk("Hello.", "stop")), (TimeSpan.Zero, Done)));

        var timeout = Assert.IsType<CallTimeoutException>(outcome.Exception);
        Assert.Equal("The provider's response headers did not come whole within Llm:StreamIdleTimeout (00:00:00.8000000).", timeout.Message);
        Assert.True(took < Silence / 2, $"cut after {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task SilentBetweenTwoChunks_CutAtTheIdleLimit_AsATimeout()
    {
        var (outcome, took) = await CallAsync(Paced((TimeSpan.Zero, Chunk("Hel")), (Silence, Chunk("lo.", "stop")), (TimeSpan.Zero, Done)));

        var timeout = Assert.IsType<CallTimeoutException>(outcome.Exception);
        Assert.EndsWith("after its answer began.", timeout.Message, StringComparison.Ordinal);
        Assert.True(took < Silence / 2, $"cut after {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task SteadyStreamLongerThanTheIdleLimitInAll_IsTheWholeAnswer()
    {
        // Eight chunks 300 ms apart: 2.4 s in all, three times the limit, never silent for it.
        var pace = TimeSpan.FromMilliseconds(300);
        var chunks = Enumerable.Range(0, 8).Select(i => (pace, Chunk(i.ToString(System.Globalization.CultureInfo.InvariantCulture), i == 7 ? "stop" : null)));
        var (outcome, took) = await CallAsync(Paced([.. chunks, (TimeSpan.Zero, Done)]));

        Assert.Null(outcome.Exception);
        Assert.Equal(("01234567", "stop"), (outcome.Result!.Text, outcome.Result.FinishReason));
        Assert.True(took > IdleLimit, $"took {took.TotalMilliseconds:0} ms");
    }

    // Comment lines are no chunk to the SDK's reader: a provider keeping a slow answer alive with them
    // was cut as silent (an outside audit: every attempt cut at the limit, then dead-lettered).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task KeepAliveCommentsLongerThanTheIdleLimit_AreNoSilence_TheAnswerIsWhole(bool afterTheFirstChunk)
    {
        // Comments 300 ms apart for 2.4 s, three times the limit, with no chunk among them.
        var keepAlives = Enumerable.Repeat((TimeSpan.FromMilliseconds(300), KeepAlive), 8);
        (TimeSpan, string)[] steps = afterTheFirstChunk
            ? [(TimeSpan.Zero, Chunk("Hel")), .. keepAlives, (TimeSpan.Zero, Chunk("lo.", "stop")), (TimeSpan.Zero, Done)]
            : [.. keepAlives, (TimeSpan.Zero, Chunk("Hello.", "stop")), (TimeSpan.Zero, Done)];
        var (outcome, took) = await CallAsync(Paced(steps));

        Assert.Null(outcome.Exception);
        Assert.Equal(("Hello.", "stop"), (outcome.Result!.Text, outcome.Result.FinishReason));
        Assert.True(took > IdleLimit * 2, $"took {took.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task SilentAfterItsFinishReason_TheAnswerIsWhole()
    {
        // The finish chunk came; the usage chunk and [DONE] never do: the answer said it ended.
        var (outcome, _) = await CallAsync(Paced((TimeSpan.Zero, Chunk("The complete answer.", "stop")), (Silence, Chunk(usage: Usage(7, 4))), (TimeSpan.Zero, Done)));

        Assert.Null(outcome.Exception);
        Assert.Equal(("The complete answer.", "stop"), (outcome.Result!.Text, outcome.Result.FinishReason));
    }

    [Fact]
    public async Task ProvidersOwnIdleLimit_LongerThanTheGlobalOne_LetsItsSilenceThrough()
    {
        // Silent 2 s before its first token (a model that thinks first): the provider allows 10 s.
        var (outcome, took) = await CallAsync(
            Paced((TimeSpan.FromSeconds(2), Chunk("Thought it over.", "stop")), (TimeSpan.Zero, Done)), providerIdleLimit: TimeSpan.FromSeconds(10));

        Assert.Null(outcome.Exception);
        Assert.Equal("Thought it over.", outcome.Result!.Text);
        Assert.True(took > IdleLimit, $"took {took.TotalMilliseconds:0} ms");
    }

    private static Task<(Polly.Outcome<LlmAnswer> Outcome, TimeSpan Took)> CallAsync(FakeAnswer answer, TimeSpan? providerIdleLimit = null) =>
        InProcessLlmCaller.CallOnceAsync(answer, TimeSpan.FromSeconds(20), llm: o => o.StreamIdleTimeout = IdleLimit,
            provider: p => p.StreamIdleTimeout = providerIdleLimit);
}
