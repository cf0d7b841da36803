using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Error bodies of OpenAI-compatible servers other than OpenAI, met by the worker's own
/// <see cref="LlmCaller"/> over HTTP (a <see cref="FakeProvider"/>): the provider's message kept,
/// a context-length error recognised as one whatever its shape.
/// </summary>
public sealed class ProviderErrorShapeTests
{
    // vLLM's answer to a prompt over the model's context (its OpenAI server's ErrorResponse).
    private const string VllmContextLength =
        """{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}""";

    [Fact]
    public async Task VllmContextLengthError_IsContextLengthExceeded_WithTheProvidersMessage()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(400, VllmContextLength));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("m"));

        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A long prompt.", "m")));

        Assert.Equal(LlmErrorKind.ContextLengthExceeded, failure.Kind);
        Assert.Contains("maximum context length is 4096 tokens", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VllmContextLengthError_FallsBackToTheNextModel()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(request => request.Model == "small"
            ? FakeAnswer.Json(400, VllmContextLength)
            : FakeAnswer.Answer("Answered by the larger model."));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("small", "large"));

        var answer = await Call(services, new JobRequest("A long prompt.", "small", FallbackModels: ["large"]));

        Assert.Equal("large", answer.Model.Name);
        Assert.Equal("Answered by the larger model.", answer.Text);
        Assert.Equal(["small", "large"], fake.Requests.Select(r => r.Model));
    }

    // OpenAI's 429 for a call over the deployment's tokens-per-minute limit: no wait makes it fit.
    private const string OpenAiRequestTooLarge =
        """{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 36282. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}""";

    [Fact]
    public async Task OpenAiRequestTooLarge_FailsAtOnce_NoCooldown_AFallbackTakesIt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(request => request.Model == "small"
            ? FakeAnswer.Json(429, OpenAiRequestTooLarge, new Dictionary<string, string> { ["retry-after"] = "20" })
            : FakeAnswer.Answer("Answered by the larger model."));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("small", "large"));

        // No fallback: the job's error says why, and no cooldown held the deployment (its next call goes at once).
        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A long prompt.", "small")));
        Assert.Equal(LlmErrorKind.RequestTooLarge, failure.Kind);
        Assert.StartsWith("429 rate_limit_exceeded: Request too large for gpt-4o", failure.Message, StringComparison.Ordinal);

        var answer = await Call(services, new JobRequest("A long prompt.", "small", FallbackModels: ["large"]));

        Assert.Equal("large", answer.Model.Name);
        Assert.Equal(["small", "small", "large"], fake.Requests.Select(r => r.Model));
    }

    // Other servers' answers to a call the model cannot take, each in its own shape and words: they were
    // dead-lettered as invalid-request, the fallback never tried (an outside audit).
    public static TheoryData<string, int, string, string> TooBigElsewhere => new()
    {
        { "llama.cpp", 400, """{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}""", "exceeds the available context size" },
        { "TGI", 422, """{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`","error_type":"validation"}""", "must be <= 4096" },
        { "Gemini", 400, """[{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}]""", "400 INVALID_ARGUMENT: The input token count" },
        { "Groq", 413, """{"error":{"message":"Request too large for model `llama-3.1-8b-instant` in organization `org_x` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Requested 9000, please reduce your message size and try again.","type":"tokens","code":"rate_limit_exceeded"}}""", "Request too large for model" },
    };

    [Theory]
    [MemberData(nameof(TooBigElsewhere))]
    public async Task CallTooBigInAnotherServersWords_TheFallbackTakesIt_ElseTheJobFailsSayingWhy(string server, int status, string body, string quoted)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(request => request.Model == "small"
            ? FakeAnswer.Json(status, body)
            : FakeAnswer.Answer("Answered by the larger model."));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("small", "large"));

        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A long prompt.", "small")));
        Assert.True(failure.Kind is LlmErrorKind.ContextLengthExceeded or LlmErrorKind.RequestTooLarge, $"{server}: {failure.Kind}");
        Assert.Contains(quoted, failure.Message, StringComparison.Ordinal);

        var answer = await Call(services, new JobRequest("A long prompt.", "small", FallbackModels: ["large"]));

        Assert.Equal("large", answer.Model.Name);
        Assert.Equal(["small", "small", "large"], fake.Requests.Select(r => r.Model));
    }

    // Out of credit (DeepSeek's "Insufficient Balance", OpenRouter's credits): permanent, not a bad request.
    [Fact]
    public async Task PaymentRequired_IsInsufficientQuota()
    {
        var failure = await FailAsync(FakeAnswer.Json(402, """{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"""));

        Assert.Equal(LlmErrorKind.InsufficientQuota, failure.Kind);
        Assert.Contains("Insufficient Balance", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VllmOtherBadRequest_IsInvalidRequest_WithTheProvidersMessage()
    {
        var failure = await FailAsync(FakeAnswer.Json(400,
            """{"object":"error","message":"temperature must be between 0 and 2, got 7.","type":"BadRequestError","param":null,"code":400}"""));

        Assert.Equal(LlmErrorKind.InvalidRequest, failure.Kind);
        Assert.Equal("400 BadRequestError: temperature must be between 0 and 2, got 7.", failure.Message);
    }

    [Fact]
    public async Task VllmErrorEventInsideTheStream_ClassifiedByItsType()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Stream(FakeAnswer.Chunk("Hel"), VllmContextLength));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("m"));

        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A long prompt.", "m")));

        Assert.Equal(LlmErrorKind.ContextLengthExceeded, failure.Kind);
        Assert.Contains("maximum context length is 4096 tokens", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorAsAString_TheMessageIsKept()
    {
        // Ollama's own shape: {"error": "…"}.
        var failure = await FailAsync(FakeAnswer.Json(404, """{"error":"model \"m\" not found, try pulling it first"}"""));

        Assert.Equal(LlmErrorKind.ModelNotFound, failure.Kind);
        Assert.Contains("model \"m\" not found, try pulling it first", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FastApiValidationError_MessageSaysTheStatusAndTheBody()
    {
        // vLLM's (FastAPI's) 422: no OpenAI error shape. The SDK's own message said only "Service request failed".
        const string body = """{"detail":[{"loc":["body","temperature"],"msg":"Input should be less than or equal to 2","type":"less_than_equal"}]}""";
        var failure = await FailAsync(FakeAnswer.Json(422, body));

        Assert.Equal(LlmErrorKind.InvalidRequest, failure.Kind);
        Assert.Equal($"422 Unprocessable Entity: {body}", failure.Message);
    }

    [Fact]
    public async Task ProxyHtmlPage_TransientWithTheStatusAndThePagesTextOnOneLine()
    {
        var failure = await FailAsync(new FakeAnswer(502, "text/html",
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"));

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        Assert.Equal("502 Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> </body> </html>", failure.Message);
    }

    [Fact]
    public async Task LiteLlmCodeRepeatingTheStatus_NotRepeated_TheTypeNamed()
    {
        var failure = await FailAsync(FakeAnswer.Json(400,
            """{"error":{"message":"litellm.BadRequestError: temperature too high","type":"invalid_request_error","param":null,"code":"400"}}"""));

        Assert.Equal(LlmErrorKind.InvalidRequest, failure.Kind);
        Assert.Equal("400 invalid_request_error: litellm.BadRequestError: temperature too high", failure.Message);
    }

    [Fact]
    public async Task Redirect_InvalidRequestSayingWhereItLedAndThatItIsNotFollowed()
    {
        // An http:// Endpoint behind a redirect to https: the call is not sent on (nor the key with it).
        const string location = "https://elsewhere.example/v1/chat/completions";
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => new FakeAnswer(307, "text/plain", "", new Dictionary<string, string> { ["Location"] = location }));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("m"));

        var failure = await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A prompt.", "m")));

        Assert.Equal(LlmErrorKind.InvalidRequest, failure.Kind);
        Assert.Equal(
            $"307 Temporary Redirect: the provider redirected the call to {location}, and redirects are not followed; check the provider's Endpoint (https rather than http?)",
            failure.Message);
        Assert.Single(fake.Requests);
    }

    /// <summary>What a call of model <c>m</c> fails with when its provider answers <paramref name="answer"/>.</summary>
    private static async Task<LlmException> FailAsync(FakeAnswer answer)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => answer);
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider("m"));
        return await Assert.ThrowsAsync<LlmException>(() => Call(services, new JobRequest("A prompt.", "m")));
    }

    private static Task<LlmAnswer> Call(ServiceProvider services, JobRequest request) =>
        services.GetRequiredService<LlmCaller>().CallAsync("job-error", request, 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}
