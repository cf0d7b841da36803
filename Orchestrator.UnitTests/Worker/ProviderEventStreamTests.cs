using System.Text;
using System.Text.Json;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// <see cref="ProviderEventStream"/>: an error event is the call's failure after the lines before it,
/// whatever else its chunk holds; other servers' finish reasons read as OpenAI's; however the bytes
/// are split between reads; the same words in a text, other keys and other values left as they came.
/// </summary>
public sealed class ProviderEventStreamTests
{
    public static TheoryData<string, string> Aliases => new()
    {
        { "eos_token", "stop" },
        { "eos", "stop" },
        { "stop_sequence", "stop" },
        { "end_turn", "stop" },
        { "model_length", "length" },
        { "max_tokens", "length" },
    };

    [Theory]
    [MemberData(nameof(Aliases))]
    public async Task EachAlias_ReadAsOpenAisName_InEverySplit(string alias, string openAi)
    {
        var body = Body($$"""{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"{{alias}}"}]}""");

        foreach (var (_, read) in await ReadInEverySplitAsync(body))
        {
            Assert.Equal(openAi, FinishReason(read));
            Assert.Equal(body.Replace($"\"{alias}\"", $"\"{openAi}\"", StringComparison.Ordinal), read);
        }
    }

    [Fact]
    public async Task WhitespaceAroundTheColon_StillReadAsOpenAisName()
    {
        var body = Body("""{"choices": [{"delta": {}, "finish_reason" :  "eos_token"}], "usage": null}""");

        foreach (var (_, read) in await ReadInEverySplitAsync(body))
        {
            Assert.Equal("stop", FinishReason(read));
        }
    }

    [Theory]
    // The words in a text: escaped, never a key and its value.
    [InlineData("""{"choices":[{"delta":{"content":"say \"finish_reason\":\"eos_token\" twice"},"finish_reason":null}]}""")]
    // Names OpenAI's client knows, names it does not (its error says so), and a longer value.
    [InlineData("""{"choices":[{"delta":{},"finish_reason":"length"}]}""")]
    [InlineData("""{"choices":[{"delta":{},"finish_reason":"error"}]}""")]
    [InlineData("""{"choices":[{"delta":{},"finish_reason":"eos_token_and_more_words"}]}""")]
    [InlineData("""{"choices":[{"delta":{},"finish_reason":"eos\u005ftoken"}]}""")]
    // The word as another key's value.
    [InlineData("""{"choices":[{"delta":{"content":"x"},"finish_reason":null,"stop":"eos_token"}]}""")]
    // The word error as a text, and an error that is null.
    [InlineData("""{"choices":[{"delta":{"content":"error"},"finish_reason":null}],"error":null}""")]
    public async Task AnythingElse_LeftAsItCame(string chunk)
    {
        var body = Body(chunk);

        foreach (var (_, read) in await ReadInEverySplitAsync(body))
        {
            Assert.Equal(body, read);
        }
    }

    [Fact]
    public async Task ManyEvents_EachRewritten()
    {
        var body = string.Concat(Enumerable.Range(0, 50).Select(i =>
            Body($$"""{"choices":[{"index":{{i}},"delta":{"content":"t{{i}}"},"finish_reason":"{{(i % 2 == 0 ? "eos_token" : "model_length")}}"}]}""")));

        foreach (var (_, read) in await ReadInEverySplitAsync(body, longestSplit: 7))
        {
            Assert.DoesNotContain("eos_token", read, StringComparison.Ordinal);
            Assert.DoesNotContain("model_length", read, StringComparison.Ordinal);
            Assert.Equal(25, CountOf(read, "\"finish_reason\":\"stop\"}"));
            Assert.Equal(25, CountOf(read, "\"finish_reason\":\"length\"}"));
            Assert.Equal(body.Replace("eos_token", "stop", StringComparison.Ordinal).Replace("model_length", "length", StringComparison.Ordinal), read);
        }
    }

    [Fact]
    public async Task BodyEndingInsideAValue_EndsAsItCame()
    {
        var body = """data: {"choices":[{"finish_reason":"eos_to""";

        foreach (var (_, read) in await ReadInEverySplitAsync(body))
        {
            Assert.Equal(body, read);
        }
    }

    [Fact]
    public void SyncReads_RewriteAsAsyncOnes()
    {
        var body = Body("""{"choices":[{"delta":{},"finish_reason":"eos_token"}]}""");
        using var stream = new ProviderEventStream(new TrickleStream(Encoding.UTF8.GetBytes(body), 3));
        using var output = new MemoryStream();

        stream.CopyTo(output, 64);

        Assert.Equal("stop", FinishReason(Encoding.UTF8.GetString(output.ToArray())));
    }

    // A reader's buffer shorter than a line: the line is read on in the stream's own, and given in parts.
    [Theory]
    [InlineData(8, 64)]
    [InlineData(8, 3)]
    [InlineData(4096, 1)]
    public async Task LineLongerThanTheReadersBuffer_ReadWholeAndRewritten(int bufferSize, int split)
    {
        var chunk = $$"""{"choices":[{"delta":{"content":"{{new string('x', 10_000)}}"},"finish_reason":"eos_token"}]}""";
        var body = Body(chunk) + Body("""{"choices":[],"usage":{"prompt_tokens":1}}""");
        await using var stream = new ProviderEventStream(new TrickleStream(Encoding.UTF8.GetBytes(body), split));

        Assert.Equal(body.Replace("eos_token", "stop", StringComparison.Ordinal), await ReadAllAsync(stream, bufferSize));
    }

    // OpenRouter's error mid-stream: a chunk with the error and a choice whose finish_reason is "error"
    // (the client threw on it), or beside a delta (the client read it as an empty chunk).
    [Theory]
    [InlineData("""{"id":"gen-1","object":"chat.completion.chunk","error":{"code":429,"message":"Rate limit exceeded upstream"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}""", LlmErrorKind.RateLimited)]
    [InlineData("""{"id":"gen-1","error":{"code":402,"message":"Insufficient credits"},"choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}""", LlmErrorKind.InsufficientQuota)]
    [InlineData("""{"error":{"type":"server_error","message":"The server had an error."}}""", LlmErrorKind.Transient)]
    [InlineData("""{"object":"error","message":"Input too long","type":"BadRequestError","code":400}""", LlmErrorKind.InvalidRequest)]
    public async Task ErrorEvent_TheCallsFailure_AfterTheLinesBeforeIt(string errorEvent, LlmErrorKind kind)
    {
        var before = Body("""{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}""");
        var body = before + Body(errorEvent) + Body("""{"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}""");

        // The client reads none of it: the error event's line, given, is never ended by its blank line.
        await AssertFailsAfterAsync(body, before + $"data: {errorEvent}\n", kind);
    }

    // SSE lets an event's data span several lines, which the client joins: a pretty-printed error (an
    // outside audit: retried as transient, the provider's message lost, the fallback never tried).
    [Fact]
    public async Task ErrorEventOverSeveralDataLines_TheCallsFailure()
    {
        var before = Body("""{"choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}""");
        var error = "data: {\ndata:   \"error\": {\ndata:     \"message\": \"This model's maximum context length is 4096 tokens.\",\ndata:     \"code\": \"context_length_exceeded\"\ndata:   }\ndata: }\n";
        var body = before + error + "\n" + Body("""{"choices":[{"index":0,"delta":{"content":"more"},"finish_reason":"stop"}]}""");

        var failure = await AssertFailsAfterAsync(body, before + error, LlmErrorKind.ContextLengthExceeded);
        Assert.Contains("maximum context length is 4096 tokens", failure.Message, StringComparison.Ordinal);
    }

    // An error event the body ends in, with no blank line after it, and its line not ended either.
    [Theory]
    [InlineData("\n")]
    [InlineData("")]
    public async Task ErrorEventTheBodyEndsIn_TheCallsFailure(string end)
    {
        var before = Body("""{"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}""");
        var error = """data: {"error":{"code":502,"message":"Upstream went away"}}""" + end;

        await AssertFailsAfterAsync(before + error, before + error, LlmErrorKind.Transient);
    }

    /// <summary>Reads <paramref name="body"/> in splits of 1, 7 and all its bytes: <paramref name="given"/> is read, then the failure of <paramref name="kind"/> is thrown.</summary>
    private static async Task<LlmException> AssertFailsAfterAsync(string body, string given, LlmErrorKind kind)
    {
        LlmException? last = null;
        foreach (var split in new[] { 1, 7, body.Length })
        {
            await using var stream = new ProviderEventStream(new TrickleStream(Encoding.UTF8.GetBytes(body), split));
            var read = new MemoryStream();
            var buffer = new byte[4096];
            var failure = await Assert.ThrowsAsync<LlmException>(async () =>
            {
                int n;
                while ((n = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
                {
                    read.Write(buffer, 0, n);
                }
            });

            Assert.Equal(kind, failure.Kind);
            Assert.Contains("stream ended with an error", failure.Message, StringComparison.Ordinal);
            Assert.Equal(given, Encoding.UTF8.GetString(read.ToArray()));
            last = failure;
        }

        return last!;
    }

    private static string Body(string chunk) => $"data: {chunk}\n\n";

    private static string FinishReason(string read) =>
        JsonDocument.Parse(read["data: ".Length..].Trim()).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString()!;

    private static int CountOf(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;

    /// <summary>The body read through the alias stream with the provider's bytes coming 1, 2, … bytes a read.</summary>
    private static async Task<List<(int Split, string Read)>> ReadInEverySplitAsync(string body, int? longestSplit = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var reads = new List<(int, string)>();
        for (var split = 1; split <= (longestSplit ?? bytes.Length); split++)
        {
            await using var stream = new ProviderEventStream(new TrickleStream(bytes, split));
            reads.Add((split, await ReadAllAsync(stream, bufferSize: 4096)));
        }

        return reads;
    }

    private static async Task<string> ReadAllAsync(Stream stream, int bufferSize)
    {
        var output = new MemoryStream();
        var buffer = new byte[bufferSize];
        int read;
        while ((read = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
        {
            output.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>A body that gives at most <c>most</c> bytes a read, as a network does.</summary>
    private sealed class TrickleStream(byte[] bytes, int most) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, most));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, most)], cancellationToken);
    }
}
