using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Worker.Llm;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// <c>Llm:Providers:{name}:MaxTokensField</c>: a job's <c>maxTokens</c> reaches an OpenAI-compatible
/// provider in the field the option names, and only in it (Ollama and LM Studio read
/// <c>max_tokens</c> alone). The worker's own <see cref="LlmCaller"/> on a real Redis calls a fake
/// provider over real HTTP (<see cref="FakeProvider"/>), which keeps each request body.
/// </summary>
public sealed class MaxTokensFieldTests
{
    [Theory]
    [InlineData(null, "max_completion_tokens", false)]
    [InlineData("max_completion_tokens", "max_completion_tokens", false)]
    [InlineData("max_tokens", "max_tokens", false)]
    // With the simulator's hints the request's options are built by the worker: the field is still the one named.
    [InlineData("max_tokens", "max_tokens", true)]
    public async Task MaxTokens_SentInTheFieldTheOptionNames_AndNotTheOther(string? field, string expected, bool simulatorHints)
    {
        await using var provider = await FakeProvider.StartAsync(_ => FakeAnswer.Answer("Hi"));
        await using var harness = await WorkerHarness.StartAsync();
        var options = new ProviderOptions
        {
            Kind = ProviderKinds.OpenAI,
            Endpoint = provider.Endpoint,
            Models = [new ModelOptions { Name = "m" }],
        };
        if (field is not null)
        {
            options.MaxTokensField = field;
        }

        await using var services = InProcessLlmCaller.Build(harness, options);
        var metadata = simulatorHints ? new Dictionary<string, string> { ["simulator.latencyMs"] = "1" } : null;
        var answer = await services.GetRequiredService<LlmCaller>()
            .CallAsync("job-max-tokens", new JobRequest("Say hi.", "m", MaxTokens: 7, Metadata: metadata), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal("Hi", answer.Text);
        var body = Assert.Single(provider.Requests).Body;
        Assert.True(body.TryGetPropertyValue(expected, out var sent), $"'{expected}' not sent: {body.ToJsonString()}");
        Assert.Equal(7, sent!.GetValue<int>());
        var other = expected == MaxTokensFields.MaxTokens ? MaxTokensFields.MaxCompletionTokens : MaxTokensFields.MaxTokens;
        Assert.False(body.ContainsKey(other), $"'{other}' sent as well: {body.ToJsonString()}");
        Assert.Equal(simulatorHints, body["metadata"]?["simulator.latencyMs"]?.GetValue<string>() == "1");
    }
}
