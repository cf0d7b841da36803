using Microsoft.Extensions.AI;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

/// <summary>What a job keeps of a streamed answer reads as Microsoft.Extensions.AI's own coalescing does.</summary>
public sealed class StreamedAnswerTests
{
    [Fact]
    public void Add_StreamOfOneMessage_ReadsAsToChatResponse()
    {
        // As OpenAI streams: one update per token under one message id, then the finish and the usage.
        ChatResponseUpdate[] updates =
        [
            new(ChatRole.Assistant, "Hel") { MessageId = "m1", ModelId = "gpt-4o-2024-08-06" },
            new(ChatRole.Assistant, "lo, ") { MessageId = "m1", ModelId = "gpt-4o-2024-08-06" },
            new(null, "world") { MessageId = "m1", ModelId = "gpt-4o-2024-08-06" },
            new() { MessageId = "m1", FinishReason = ChatFinishReason.Stop },
            new() { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 12, OutputTokenCount = 3 })] },
        ];

        var answer = new StreamedAnswer();
        var texts = updates.Select(answer.Add).ToArray();

        var expected = updates.ToChatResponse();
        Assert.Equal(["Hel", "lo, ", "world", "", ""], texts);
        Assert.Equal(expected.Text, answer.Text);
        Assert.Equal("Hello, world", answer.Text);
        Assert.Equal(expected.ModelId, answer.ModelId);
        Assert.Equal(expected.Usage!.InputTokenCount, answer.InputTokens);
        Assert.Equal(expected.Usage.OutputTokenCount, answer.OutputTokens);
    }

    [Fact]
    public void Add_PastTheLongestKept_CutThere_AsCutAtALimit()
    {
        var answer = new StreamedAnswer();

        var texts = new[] { "12345", "6789😀x", "more" }.Select(t => answer.AddUpTo(new ChatResponseUpdate(ChatRole.Assistant, t), maxLength: 10)).ToArray();

        // "6789" fits and the emoji's first half would be the tenth character: cut before the pair.
        Assert.Equal(["12345", "6789", ""], texts);
        Assert.Equal("123456789", answer.Text);
        Assert.True(answer.CutAtMaxLength);
        Assert.Equal("length", answer.FinishReason);
        Assert.True(answer.Finished);
    }

    [Fact]
    public void Add_OnePieceOfText_IsThatText()
    {
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "All at once."));

        Assert.Equal("All at once.", answer.Text);
        Assert.Null(answer.ModelId);
    }

    [Fact]
    public void Add_NoUsageReported_LeavesTheCountsUnknown()
    {
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "text"));

        Assert.Null(answer.InputTokens);
        Assert.Null(answer.OutputTokens);
    }

    [Fact]
    public void Add_UsageOnEveryChunk_TheLastReportCounts()
    {
        // vLLM with continuous_usage_stats: every chunk carries the usage so far.
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "Hel") { Contents = [new TextContent("Hel"), Usage(10, 1)] });
        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "lo") { Contents = [new TextContent("lo"), Usage(10, 2)] });
        answer.Add(new ChatResponseUpdate { FinishReason = ChatFinishReason.Stop, Contents = [Usage(10, 2)] });

        Assert.Equal(10, answer.InputTokens);
        Assert.Equal(2, answer.OutputTokens);
    }

    [Fact]
    public void Add_UsageReportedInParts_EachCountFromItsLastReport()
    {
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 10 })] });
        answer.Add(new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { OutputTokenCount = 7 })] });

        Assert.Equal(10, answer.InputTokens);
        Assert.Equal(7, answer.OutputTokens);
    }

    [Fact]
    public void Add_TotalAbovePromptPlusCompletion_TheRestCountsAsOutput()
    {
        // Gemini's OpenAI-compatible usage: total_tokens counts the thinking tokens its
        // completion_tokens leaves out; they are billed as output, as OpenAI's completion_tokens has them.
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 20, OutputTokenCount = 198, TotalTokenCount = 623 })] });

        Assert.Equal((20, 603), (answer.InputTokens, answer.OutputTokens));
    }

    [Fact]
    public void Add_TotalWithoutPrompt_OrNotAbove_LeavesTheCountsAsReported()
    {
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { OutputTokenCount = 5, TotalTokenCount = 50 })] });
        Assert.Equal(((long?)null, 5), (answer.InputTokens, answer.OutputTokens));

        answer.Add(new ChatResponseUpdate { Contents = [new UsageContent(new UsageDetails { InputTokenCount = 9, OutputTokenCount = 3, TotalTokenCount = 12 })] });
        Assert.Equal((9, 3), (answer.InputTokens, answer.OutputTokens));
    }

    [Fact]
    public void Add_UsageWithoutCompletionTokens_OutputLeftUnknown()
    {
        // The OpenAI SDK reads a count the provider left out as 0.
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "Some text") { FinishReason = ChatFinishReason.Stop });
        answer.Add(new ChatResponseUpdate { Contents = [Usage(9, 0)] });

        Assert.Equal(9, answer.InputTokens);
        Assert.Null(answer.OutputTokens);
    }

    [Fact]
    public void Finished_OnlyOnceAnUpdateCarriesAFinishReason()
    {
        var answer = new StreamedAnswer();

        answer.Add(new ChatResponseUpdate(ChatRole.Assistant, "Hel"));
        Assert.False(answer.Finished);
        answer.Add(new ChatResponseUpdate { FinishReason = ChatFinishReason.Length });
        Assert.True(answer.Finished);
        Assert.Equal("length", answer.FinishReason);
    }

    [Fact]
    public void FinishReason_TheLastOneSaid_NotLostToALaterUpdateWithout()
    {
        var answer = new StreamedAnswer();

        Assert.Null(answer.FinishReason);
        answer.Add(new ChatResponseUpdate { FinishReason = ChatFinishReason.Stop });
        answer.Add(new ChatResponseUpdate { Contents = [Usage(10, 2)] });
        Assert.Equal("stop", answer.FinishReason);
    }

    [Fact]
    public void Text_NothingStreamed_IsEmpty()
    {
        Assert.Equal(string.Empty, new StreamedAnswer().Text);
    }

    private static UsageContent Usage(long input, long output) =>
        new(new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output });
}
