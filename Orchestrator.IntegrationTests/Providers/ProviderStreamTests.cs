using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

using static Orchestrator.IntegrationTests.Providers.FakeAnswer;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// What the worker's own <see cref="LlmCaller"/> makes of a provider's answer over HTTP, against a
/// <see cref="FakeProvider"/> that answers byte for byte what each test scripts: a stream broken in
/// any way is a transient failure (retried), never an answer; an error inside a stream is classified
/// by its type; a server that ignored <c>stream: true</c> still answered.
/// </summary>
public sealed class ProviderStreamTests
{
    private static readonly Dictionary<string, FakeAnswer> Broken = new()
    {
        ["chunks, then the end without finish_reason"] = Stream(Chunk("Hel"), Chunk("lo")),
        ["chunks, then [DONE] without finish_reason"] = Stream(Chunk("Hel"), Chunk("lo"), Done),
        ["chunks, then an error event"] = Stream(Chunk("Hel"), """{"error":{"type":"server_error","message":"The server had an error."}}"""),
        ["a chunk that is not JSON"] = Stream(Chunk("Hel"), "{this is not json"),
        ["[DONE] alone"] = Stream(Done),
        ["an error body with status 200"] = Json(200, """{"error":{"type":"server_error","message":"The server had an error."}}"""),
        ["an HTML page with status 200"] = new(200, "text/html", "<html><body>Hello from the gateway</body></html>"),
        ["truncated JSON with status 200"] = Json(200, """{"id":"chatcmpl-1","object":"chat.comp"""),
    };

    public static TheoryData<string> BrokenAnswers => [.. Broken.Keys];

    [Theory]
    [MemberData(nameof(BrokenAnswers))]
    public async Task BrokenAnswer_FailsTransient(string answer)
    {
        var failure = await CallFailingAsync(Broken[answer]);

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
    }

    // A gateway's page answered 200 read as a stream that "ended before the answer did".
    [Fact]
    public async Task AnHtmlPageWithStatus200_TheFailureNamesItsType()
    {
        var failure = await CallFailingAsync(Broken["an HTML page with status 200"]);

        Assert.Equal("The provider answered with a body of type 'text/html', not an event stream: no answer in it.", failure.Message);
    }

    [Theory]
    [InlineData("server_error", LlmErrorKind.Transient)]
    [InlineData("invalid_request_error", LlmErrorKind.InvalidRequest)]
    [InlineData("insufficient_quota", LlmErrorKind.InsufficientQuota)]
    [InlineData("an_error_nobody_named", LlmErrorKind.Transient)]
    public async Task ErrorEventInsideTheStream_ClassifiedByItsType(string type, LlmErrorKind kind)
    {
        var failure = await CallFailingAsync(Stream(Chunk("Hel"), $$$"""{"error":{"type":"{{{type}}}","message":"Said inside the stream."}}"""));

        Assert.Equal(kind, failure.Kind);
        Assert.Contains("Said inside the stream.", failure.Message, StringComparison.Ordinal);
    }

    // OpenRouter's error inside a stream carries an HTTP status as a number (it read as ", :" and
    // classified as a 500): 400 is a bad request, 502 transient, and 429 a rate limit (next test).
    [Theory]
    [InlineData(400, LlmErrorKind.InvalidRequest)]
    [InlineData(502, LlmErrorKind.Transient)]
    public async Task ErrorEventWithANumericCode_ClassifiedByThatStatus(int code, LlmErrorKind kind)
    {
        var failure = await CallFailingAsync(Stream(Chunk("Hel"), $$$"""{"error":{"code":{{{code}}},"message":"Provider returned error"}}"""));

        Assert.Equal(kind, failure.Kind);
        Assert.Contains($"ended with an error, {code}: Provider returned error", failure.Message, StringComparison.Ordinal);
    }

    // As OpenRouter sends it mid-stream: the error in a chunk whose choice ends with finish_reason
    // "error" (the client threw on it: transient, the message lost, 3 attempts, then the fallback), or
    // beside a delta (not read at all); and alone.
    [Theory]
    [InlineData("""{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","error":{"code":429,"message":"Provider returned error"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}""")]
    [InlineData("""{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","error":{"code":429,"message":"Provider returned error"},"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""")]
    [InlineData("""{"error":{"code":429,"message":"Provider returned error"}}""")]
    public async Task ErrorEventWithCode429_IsARateLimit_TheJobWaitsForTheDeployment(string errorEvent)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(Chunk("Hel"), errorEvent));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var wait = await Assert.ThrowsAsync<CapacityWaitException>(() => Call(services));

        Assert.Equal("rate-limited", wait.Reason);
        Assert.Contains("Provider returned error", wait.Cause, StringComparison.Ordinal);
    }

    // An event's data over several lines (SSE joins them): a pretty-printed error was not read, and
    // the job was retried as transient, the provider's message lost and its fallback never tried (an outside audit).
    [Fact]
    public async Task ErrorEventOverSeveralDataLines_ClassifiedByItsCode_TheFallbackTakesIt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(request => request.Model == "small"
            ? new FakeAnswer(200, "text/event-stream", Event(Chunk("partial")) +
                "data: {\ndata:   \"error\": {\ndata:     \"message\": \"This model's maximum context length is 4096 tokens.\",\ndata:     \"code\": \"context_length_exceeded\"\ndata:   }\ndata: }\n\n")
            : Answer("Answered by the larger model."));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("small", "large"));

        var answer = await Call(services, new JobRequest("A long prompt.", "small", FallbackModels: ["large"]));

        Assert.Equal(("large", "Answered by the larger model."), (answer.Model.Name, answer.Text));
        Assert.Equal(["small", "large"], fake.Requests.Select(r => r.Model));
    }

    // Values the SDK's reader throws on: the job failed at once as 'unexpected' (an outside audit);
    // the provider's answer is broken like a stream cut short, and another attempt may read a whole one.
    [Theory]
    [InlineData("error")]
    [InlineData("abort")]
    public async Task FinishReasonTheClientDoesNotKnow_FailsTransientQuotingIt(string finishReason)
    {
        var failure = await CallFailingAsync(Stream(Chunk("Hel"), Chunk("lo", finish: finishReason), Done));

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        Assert.Contains("cannot read", failure.Message, StringComparison.Ordinal);
        Assert.Contains(finishReason, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', failure.Message);
    }

    // TGI ends its answers with eos_token (stop_sequence at a stop word), Mistral with model_length at
    // the model's limit: the OpenAI client throws on both, and every answer of such a server failed
    // as transient, each retry paid for again. Streamed and answered whole alike.
    [Theory]
    [InlineData("eos_token", "stop", true)]
    [InlineData("stop_sequence", "stop", true)]
    [InlineData("model_length", "length", true)]
    [InlineData("eos_token", "stop", false)]
    public async Task FinishReasonOfAnotherServer_ReadAsOpenAis_TheAnswerKept(string finishReason, string asOpenAi, bool streamed)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => streamed
            ? Stream(Chunk("Hel"), Chunk("lo.", finish: finishReason), Done)
            : Json(200, $$$"""{"id":"c","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},"finish_reason":"{{{finishReason}}}"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"""));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal(("Hello.", asOpenAi), (answer.Text, answer.FinishReason));
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task CreatedAsAFloat_FailsTransient()
    {
        var failure = await CallFailingAsync(Stream(Chunk("Hello.", "stop").Replace("1700000000", "1700000000.5", StringComparison.Ordinal), Done));

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        Assert.Contains("cannot read", failure.Message, StringComparison.Ordinal);
    }

    // A null count after the finish_reason: the answer had ended, and is kept (counted here).
    [Fact]
    public async Task NullCountAfterItsFinishReason_IsTheAnswer()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(
            Chunk("The complete answer.", "stop"),
            """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":null,"total_tokens":null}}""",
            Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal(("The complete answer.", "stop"), (answer.Text, answer.FinishReason));
        Assert.Equal(TokenCounter.Count("The complete answer."), answer.OutputTokens);
    }

    [Fact]
    public async Task StreamIgnoredByTheServer_TheWholeAnswerIsRead()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Json(200, """
            {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"fake-model",
             "choices":[{"index":0,"message":{"role":"assistant","content":"The whole answer."},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":7,"completion_tokens":4,"total_tokens":11}}
            """));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.True(Assert.Single(fake.Requests).Stream);
        Assert.Equal("The whole answer.", answer.Text);
        Assert.Equal((7, 4), (answer.InputTokens, answer.OutputTokens));
        Assert.Equal("fake-model", answer.ResponseModel);
    }

    [Fact]
    public async Task EmptyAnswerThatFinished_IsAnAnswer()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(Chunk(finish: "stop"), Chunk(usage: Usage(7, 0)), Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal(string.Empty, answer.Text);
        Assert.Equal(0, answer.OutputTokens);
    }

    [Fact]
    public async Task UsageOnEveryChunk_TheLastReportCounts_NotTheirSum()
    {
        // vLLM with stream_options.continuous_usage_stats: every chunk carries the usage so far.
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(
            Chunk("One", usage: Usage(20, 1)), Chunk(" two", usage: Usage(20, 2)), Chunk(" three", usage: Usage(20, 3)),
            Chunk(finish: "stop", usage: Usage(20, 3)), Chunk(usage: Usage(20, 3)), Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal("One two three", answer.Text);
        Assert.Equal((20, 3), (answer.InputTokens, answer.OutputTokens));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    [InlineData("identity, gzip")]
    public async Task BodyCodedUnasked_IsDecoded_TheAnswerAndAnErrorsMessageRead(string coding)
    {
        // A proxy that compresses though the worker sent no Accept-Encoding: every answer failed
        // transient after it was paid (5 attempts, then a dead letter).
        await using var harness = await WorkerHarness.StartAsync();
        var error = false;
        await using var fake = await FakeProvider.StartAsync(_ =>
        {
            var answer = (error = !error)
                ? Answer("Compressed", " on the way.")
                : Json(400, """{"error":{"message":"This model's maximum context length is 8 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}""");
            return answer with { RawBody = Coded(coding, answer.Body), Headers = new Dictionary<string, string> { ["Content-Encoding"] = coding } };
        });
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);
        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services));

        Assert.Equal(("Compressed on the way.", "stop"), (answer.Text, answer.FinishReason));
        Assert.Equal(LlmErrorKind.ContextLengthExceeded, failure.Kind);
        Assert.Contains("maximum context length is 8 tokens", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BodyCodedUnasked_ThatDoesNotDecode_FailsTransient()
    {
        var body = Coded("gzip", Answer("Compressed").Body);
        body[body.Length / 2] ^= 0xFF;
        body[(body.Length / 2) + 1] ^= 0xFF;

        var failure = await CallFailingAsync(Answer() with { RawBody = body, Headers = new Dictionary<string, string> { ["Content-Encoding"] = "gzip" } });

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
    }

    private static byte[] Coded(string coding, string body)
    {
        using var coded = new MemoryStream();
        using (Stream encoder = coding.EndsWith("gzip", StringComparison.Ordinal)
            ? new System.IO.Compression.GZipStream(coded, System.IO.Compression.CompressionLevel.Fastest)
            : new System.IO.Compression.BrotliStream(coded, System.IO.Compression.CompressionLevel.Fastest))
        {
            encoder.Write(System.Text.Encoding.UTF8.GetBytes(body));
        }

        return coded.ToArray();
    }

    [Fact]
    public async Task Refusal_IsTheAnswersText_StreamedOrWhole()
    {
        // OpenAI's refusal comes in delta.refusal (message.refusal in a whole answer), not in content.
        await using var harness = await WorkerHarness.StartAsync();
        var whole = false;
        await using var fake = await FakeProvider.StartAsync(_ => (whole = !whole)
            ? Json(200, """{"id":"c","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}""")
            : Stream(
                """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"finish_reason":null}]}""",
                """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"refusal":"I can't"},"finish_reason":null}]}""",
                """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"refusal":" help with that."},"finish_reason":null}]}""",
                Chunk(finish: "stop"), Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answers = new[] { await Call(services), await Call(services) };

        Assert.All(answers, answer => Assert.Equal(("I can't help with that.", "stop"), (answer.Text, answer.FinishReason)));
    }

    [Fact]
    public async Task TotalAbovePromptPlusCompletion_ThinkingTokensCountAsOutput()
    {
        // Gemini's OpenAI-compatible endpoint: total_tokens has the thinking tokens, completion_tokens not.
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(
            Chunk("Forty-two.", "stop"),
            """{"id":"c","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash","choices":[],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":430}}""",
            Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal("Forty-two.", answer.Text);
        Assert.Equal((20, 410), (answer.InputTokens, answer.OutputTokens));
    }

    [Fact]
    public async Task UsageWithoutCompletionTokens_TheAnswerIsCounted()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(
            Chunk("Leases end"), Chunk(" when nobody renews them.", finish: "stop"), Chunk(usage: Usage(9, completion: null)), Done));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services);

        Assert.Equal(9, answer.InputTokens);
        Assert.Equal(TokenCounter.Count("Leases end when nobody renews them."), answer.OutputTokens);
        Assert.True(answer.OutputTokens > 0);
    }

    [Fact]
    public async Task StreamCutAfterItsFinishReason_IsTheAnswer_CountedLocally()
    {
        // The finish chunk came; then the connection broke before the usage chunk and [DONE] (a
        // proxy dropping it at the very end). The answer said it ended: it is whole, not retried.
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => Stream(Chunk("The complete answer."), Chunk(finish: "stop")) with { CutShort = true });
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var answer = await Call(services, new JobRequest("Explain leases.", "m"));

        Assert.Single(fake.Requests);
        Assert.Equal(("The complete answer.", "stop"), (answer.Text, answer.FinishReason));
        Assert.Equal((TokenCounter.CountPrompt("Explain leases."), TokenCounter.Count("The complete answer.")), (answer.InputTokens, answer.OutputTokens));
    }

    [Fact]
    public async Task AnswerPastLlmMaxAnswerLength_CutThere_CompletedAsCutAtALimit()
    {
        // A provider that streams on and on (a model looping, no maxTokens): one call must not fill
        // Redis and the worker's memory. The answer keeps its first MaxAnswerLength characters.
        await using var harness = await WorkerHarness.StartAsync();
        var chunks = Enumerable.Range(0, 50).Select(i => Chunk(new string((char)('a' + (i % 26)), 100))).Append(Chunk(finish: "stop")).Append(Done);
        await using var fake = await FakeProvider.StartAsync(_ => Stream([.. chunks]));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider(), llm: o => o.MaxAnswerLength = 1_050);

        var answer = await Call(services);

        Assert.Equal(1_050, answer.Text.Length);
        Assert.StartsWith(new string('a', 100) + new string('b', 100), answer.Text, StringComparison.Ordinal);
        Assert.Equal("length", answer.FinishReason);
        Assert.Equal(TokenCounter.Count(answer.Text), answer.OutputTokens);
    }

    [Fact]
    public async Task StreamCutBeforeItsFinishReason_FailsTransient()
    {
        var failure = await CallFailingAsync(Stream(Chunk("The complete"), Chunk(" answer.")) with { CutShort = true });

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
    }

    [Fact]
    public async Task EventNotValidUtf8_FailsTransient()
    {
        // A malformed answer, like an event that is not JSON: retried, not an unexpected error (a bug).
        var body = System.Text.Encoding.UTF8.GetBytes(Stream(Chunk("Hel@@lo"), Chunk(finish: "stop"), Done).Body);
        var at = body.AsSpan().IndexOf("@@"u8);
        (body[at], body[at + 1]) = (0xFF, 0xFE);

        var failure = await CallFailingAsync(Stream() with { RawBody = body });

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        Assert.Contains("UTF-8", failure.Message, StringComparison.Ordinal);
    }

    private static async Task<LlmException> CallFailingAsync(FakeAnswer answer)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => answer);
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());
        return await Assert.ThrowsAsync<LlmException>(() => Call(services));
    }

    private static Task<LlmAnswer> Call(ServiceProvider services, JobRequest? request = null) =>
        services.GetRequiredService<LlmCaller>().CallAsync("job-stream", request ?? new JobRequest("Explain leases.", "m"), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}
