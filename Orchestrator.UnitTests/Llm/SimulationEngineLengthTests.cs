using Microsoft.Extensions.Time.Testing;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;

namespace Orchestrator.UnitTests.Llm;

/// <summary><c>Simulator:CompletionTokens</c>: answers of a chosen length, streamed over the time their tokens take.</summary>
public sealed class SimulationEngineLengthTests
{
    private static SimulatedPlan Plan(int? completionTokens, int? maxTokens = null, double? tokensPerSecond = null, string prompt = "What is a lease?") =>
        new SimulationEngine(new SimulatorOptions { FailureRate = 0, CompletionTokens = completionTokens, TokensPerSecond = tokensPerSecond }, new FakeTimeProvider())
            .Plan(new SimulatedCall("m", prompt, maxTokens, null, 1));

    [Theory]
    [InlineData(100)]
    [InlineData(257)]
    public void CompletionTokens_LongerThanTheComposedAnswer_AnswerHasExactlyThatMany(int tokens)
    {
        var plan = Plan(tokens);

        Assert.Equal(tokens, plan.CompletionTokens);
        Assert.Equal(tokens, TokenCounter.Count(plan.Text));
        Assert.StartsWith(Plan(null).Text, plan.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void CompletionTokens_ShorterThanTheComposedAnswer_CutsIt()
    {
        var plan = Plan(8);

        Assert.InRange(plan.CompletionTokens, 1, 8);
        Assert.Equal(plan.CompletionTokens, TokenCounter.Count(plan.Text));
    }

    [Fact]
    public void MaxTokensBelowCompletionTokens_StillCuts()
    {
        var plan = Plan(100, maxTokens: 20, prompt: "What is a lease, and who holds it?");

        Assert.InRange(plan.CompletionTokens, 1, 20);
    }

    [Fact]
    public void CompletionTokensAtTokensPerSecond_StreamTakesTheirTime()
    {
        var plan = Plan(100, tokensPerSecond: 100);

        var chunks = SimulatedStream.Chunks(plan).ToList();

        Assert.Equal(plan.Text, string.Concat(chunks.Select(c => c.Chunk)));
        Assert.Equal(1.0, chunks.Sum(c => c.Delay.TotalSeconds), precision: 6);
    }
}
