using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Resilience;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A provider's error that quotes an API key, as LiteLLM's 401 does (audit M5): the key never
/// reaches the error a tenant reads on its job, nor the worker's log, whichever provider's key it is.
/// </summary>
public sealed class ProviderSecretTests
{
    // Unique to this class: the redaction is process-wide.
    private const string CalledKey = "sk-secret-test-CALLED-0123456789";
    private const string OtherKey = "sk-secret-test-OTHER-9876543210";

    [Fact]
    public async Task AuthErrorEchoingTheCalledKey_KeyRedactedFromTheErrorAndTheLog()
    {
        // LiteLLM's answer to a key it does not know (audit M5's repro).
        var body = $$$"""{"error":{"message":"Authentication Error, invalid key. Received API Key = {{{CalledKey}}}","type":"auth_error","code":"401"}}""";

        var (failure, lines) = await FailAsync(_ => FakeAnswer.Json(401, body));

        Assert.Equal(LlmErrorKind.Authentication, failure.Kind);
        AssertRedacted(failure, lines, CalledKey);
        Assert.Contains("Received API Key = [redacted]", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorEchoingAnotherProvidersKeyAndABearer_BothRedacted()
    {
        var body = $$$"""{"error":{"message":"Key {{{OtherKey}}} is not valid here. Headers: Authorization: Bearer sk-unknown-to-us-42","type":"invalid_request_error"}}""";

        var (failure, lines) = await FailAsync(_ => FakeAnswer.Json(400, body));

        AssertRedacted(failure, lines, OtherKey);
        AssertRedacted(failure, lines, "sk-unknown-to-us-42");
        Assert.Contains("Authorization: Bearer [redacted]", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ErrorEventInsideTheStreamEchoingTheKey_KeyRedacted()
    {
        var error = $$$"""{"error":{"message":"upstream rejected key {{{CalledKey}}}","type":"server_error"}}""";

        var (failure, lines) = await FailAsync(_ => FakeAnswer.Stream(FakeAnswer.Chunk("Hel"), error));

        AssertRedacted(failure, lines, CalledKey);
    }

    [Fact]
    public async Task UnshapedBodyQuotingTheKeyAcrossTheExcerptsCut_NoPartOfItKept()
    {
        // A body in no error shape is quoted up to 512 characters: redacted before that cut, not after.
        var body = new string('x', 500) + " " + CalledKey + " " + new string('y', 100);

        var (failure, lines) = await FailAsync(_ => new FakeAnswer(500, "text/plain", body));

        AssertRedacted(failure, lines, CalledKey[..8]);
        Assert.Contains(ProviderSecrets.Mark, failure.Message, StringComparison.Ordinal);
    }

    private static void AssertRedacted(LlmException failure, IEnumerable<string> lines, string secret)
    {
        Assert.DoesNotContain(secret, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, AttemptFailure.ErrorOf(failure).Message, StringComparison.Ordinal);
        Assert.All(lines, line => Assert.DoesNotContain(secret, line, StringComparison.Ordinal));
    }

    /// <summary>One call of provider <see cref="InProcessLlmCaller.Provider"/> (key <see cref="CalledKey"/>), another provider configured beside it (key <see cref="OtherKey"/>).</summary>
    private static async Task<(LlmException Failure, IReadOnlyList<string> Lines)> FailAsync(Func<FakeRequest, FakeAnswer> answer)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(answer);
        await using var services = InProcessLlmCaller.Build(harness, Provider(fake.Endpoint, CalledKey, "m"), llm: o =>
            o.Providers["other"] = Provider(InProcessLlmCaller.Unreachable, OtherKey, "other-m"));

        var failure = await Assert.ThrowsAsync<LlmException>(() =>
            services.GetRequiredService<LlmCaller>().CallAsync("job-secret", new JobRequest("A prompt.", "m"), 1, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var lines = services.GetFakeLogCollector().GetSnapshot().Select(r => $"{r.Message} {r.Exception}").ToList();
        return (failure, lines);
    }

    private static ProviderOptions Provider(Uri endpoint, string key, string model) => new()
    {
        Kind = ProviderKinds.OpenAI,
        Endpoint = endpoint,
        ApiKey = key,
        Models = [new ModelOptions { Name = model }],
    };
}
