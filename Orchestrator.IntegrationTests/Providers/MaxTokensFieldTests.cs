using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// <c>Llm:Providers:{name}:MaxTokensField</c>: a job's <c>maxTokens</c> reaches an OpenAI-compatible
/// provider in the field the option names, and only in it (Ollama and LM Studio read
/// <c>max_tokens</c> alone). The worker's own <see cref="LlmCaller"/> on a real Redis calls a fake
/// provider over real HTTP that keeps each request body.
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
        await using var provider = await FakeProvider.StartAsync();
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
        var body = Assert.Single(provider.Bodies);
        Assert.True(body.TryGetPropertyValue(expected, out var sent), $"'{expected}' not sent: {body.ToJsonString()}");
        Assert.Equal(7, sent!.GetValue<int>());
        var other = expected == MaxTokensFields.MaxTokens ? MaxTokensFields.MaxCompletionTokens : MaxTokensFields.MaxTokens;
        Assert.False(body.ContainsKey(other), $"'{other}' sent as well: {body.ToJsonString()}");
        Assert.Equal(simulatorHints, body["metadata"]?["simulator.latencyMs"]?.GetValue<string>() == "1");
    }
}

/// <summary>An OpenAI-compatible endpoint on loopback that keeps each request body and streams "Hi".</summary>
file sealed class FakeProvider : IAsyncDisposable
{
    private const string Chunks =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
        + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        + "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}\n\n"
        + "data: [DONE]\n\n";

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<JsonObject> _bodies = new();

    private FakeProvider(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public IReadOnlyList<JsonObject> Bodies => [.. _bodies];

    public static async Task<FakeProvider> StartAsync()
    {
        var port = LoopbackPort.Next().ToString(CultureInfo.InvariantCulture);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var provider = new FakeProvider(app, new Uri($"http://127.0.0.1:{port}/v1"));
        app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            provider._bodies.Enqueue((await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!.AsObject());
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(Chunks, context.RequestAborted);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        return provider;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
