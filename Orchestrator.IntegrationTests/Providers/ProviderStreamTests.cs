using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// What the worker's own <see cref="LlmCaller"/> makes of a provider's answer over HTTP, against a
/// <see cref="FakeProvider"/> that answers byte for byte what each test scripts: a stream broken in
/// any way is a transient failure (retried), never an answer.
/// </summary>
public sealed class ProviderStreamTests
{
    [Fact]
    public async Task MalformedChunk_FailsTransient()
    {
        var failure = await CallFailingAsync(FakeAnswer.Stream(FakeAnswer.Chunk("Hel"), "{this is not json"));

        Assert.Equal(LlmErrorKind.Transient, failure.Kind);
    }

    private static async Task<LlmException> CallFailingAsync(FakeAnswer answer)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => answer);
        await using var services = InProcessLlmCaller.Build(harness, Provider(fake));
        return await Assert.ThrowsAsync<LlmException>(() => Call(services));
    }

    private static ProviderOptions Provider(FakeProvider fake) => new()
    {
        Kind = ProviderKinds.OpenAI,
        Endpoint = fake.Endpoint,
        Models = [new ModelOptions { Name = "m" }],
    };

    private static Task<LlmAnswer> Call(ServiceProvider services, JobRequest? request = null) =>
        services.GetRequiredService<LlmCaller>().CallAsync("job-stream", request ?? new JobRequest("Explain leases.", "m"), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}
