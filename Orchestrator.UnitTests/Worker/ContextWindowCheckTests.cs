using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// The context-window check counts what the call asks for: the prompt plus the job's maxTokens, the
/// prompt alone without one (DefaultMaxTokens is a flow-control reservation, not added here), and
/// its message says which, and speaks of fallbacks only when the job has some.
/// </summary>
public sealed class ContextWindowCheckTests
{
    [Fact]
    public void TooLong_NoMaxTokens_CountsThePromptAloneAndSaysSo()
    {
        var error = ContextWindowCheck.TooLong("small-model", window: 300, promptTokens: 406, maxTokens: null, hasFallbacks: true);

        Assert.NotNull(error);
        Assert.Equal(LlmErrorKind.ContextLengthExceeded, error.Kind);
        Assert.Equal(
            "The prompt (406 tokens; the job sets no maxTokens, so none are added for the answer) exceeds the context window of 'small-model' (300 tokens) and of every fallback.",
            error.Message);
        Assert.DoesNotContain("maxTokens (0)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TooLong_WithMaxTokens_NamesTheJobsMaxTokens()
    {
        var error = ContextWindowCheck.TooLong("small-model", window: 300, promptTokens: 250, maxTokens: 100, hasFallbacks: true);

        Assert.Equal(
            "The prompt (250 tokens) plus the job's maxTokens (100) exceeds the context window of 'small-model' (300 tokens) and of every fallback.",
            error?.Message);
    }

    [Fact]
    public void TooLong_NoFallbacks_SpeaksOfTheOneModelOnly()
    {
        var error = ContextWindowCheck.TooLong("small-model", window: 300, promptTokens: 250, maxTokens: 100, hasFallbacks: false);

        Assert.Equal(
            "The prompt (250 tokens) plus the job's maxTokens (100) exceeds the context window of 'small-model' (300 tokens).",
            error?.Message);
    }

    [Theory]
    [InlineData(250, null)]      // the answer gets the 50 left; a provider takes such a call
    [InlineData(300, null)]
    [InlineData(200, 100)]
    public void TooLong_PromptAndMaxTokensFit_IsNull(int promptTokens, int? maxTokens) =>
        Assert.Null(ContextWindowCheck.TooLong("small-model", window: 300, promptTokens, maxTokens, hasFallbacks: false));

    [Fact]
    public void TooLong_WindowUnknown_IsNull() =>
        Assert.Null(ContextWindowCheck.TooLong("any", window: null, promptTokens: 1_000_000, maxTokens: 1_000_000, hasFallbacks: false));
}
