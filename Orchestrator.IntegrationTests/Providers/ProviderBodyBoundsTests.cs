using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using static Orchestrator.IntegrationTests.Providers.FakeAnswer;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// What a provider's body can cost is bounded (<see cref="BoundedBodyPolicy"/>), against a
/// <see cref="FakeProvider"/> over real HTTP:
/// <list type="bullet">
/// <item>An error status whose body stalls ends with the call's limits. The SDK buffered it with no
/// token: an outside audit's stalled 500 held its slot for 5.5 minutes, past every timeout and a cancel.</item>
/// <item>An answer whose one event, or whose JSON body, is larger than an answer of
/// <c>Llm:MaxAnswerLength</c> can be fails as <c>transient</c>, saying so. One such 200 MB event
/// cost the worker 2 GB, and at a heap limit ended the attempt as <c>unexpected</c>.</item>
/// </list>
/// </summary>
public sealed class ProviderBodyBoundsTests
{
    private const int MaxAnswerLength = 1_000;
    private static readonly TimeSpan IdleLimit = TimeSpan.FromMilliseconds(800);

    [Fact]
    public async Task ErrorStatusWhoseBodyStalls_EndsWithTheCallsLimits()
    {
        var stalled = Paced((TimeSpan.Zero, ": {\"error\":"), (TimeSpan.FromSeconds(60), ": never")) with { Status = 500, ContentType = "application/json" };

        var (outcome, took) = await CallAsync(stalled);

        Assert.NotNull(outcome.Exception);
        Assert.True(took < TimeSpan.FromSeconds(10), $"ended after {took.TotalMilliseconds:0} ms");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OneEventOrBodyLargerThanAnAnswerCanBe_FailsAsTransient_SayingSo(bool streamed)
    {
        var text = new string('a', 100_000);
        var answer = streamed
            ? Stream(Chunk(text, "stop"), Done)
            : Json(200, $$"""{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{{text}}"},"finish_reason":"stop"}]}""");

        var (outcome, _) = await CallAsync(answer);

        var refused = Assert.IsType<LlmException>(outcome.Exception);
        Assert.Equal(LlmErrorKind.Transient, refused.Kind);
        Assert.Contains("Llm:MaxAnswerLength (1,000 characters)", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnswerLongerThanMaxAnswerLengthInManyEvents_IsCutThereAsBefore()
    {
        var chunks = Enumerable.Range(0, 30).Select(_ => Chunk(new string('b', 100))).Append(Chunk(finish: "stop")).Append(Done).ToArray();

        var (outcome, _) = await CallAsync(Stream(chunks));

        Assert.Null(outcome.Exception);
        Assert.Equal((MaxAnswerLength, "length"), (outcome.Result!.Text.Length, outcome.Result.FinishReason));
    }

    private static Task<(Polly.Outcome<LlmAnswer> Outcome, TimeSpan Took)> CallAsync(FakeAnswer answer) =>
        InProcessLlmCaller.CallOnceAsync(answer, TimeSpan.FromSeconds(30), llm: o =>
        {
            o.StreamIdleTimeout = IdleLimit;
            o.MaxAnswerLength = MaxAnswerLength;
        });
}
