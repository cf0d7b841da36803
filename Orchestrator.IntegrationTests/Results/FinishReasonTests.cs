namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// A completed job says why its answer ended (<c>result.finishReason</c>, the provider's
/// <c>finish_reason</c>): <c>length</c> for an answer cut at the job's <c>maxTokens</c>, which a
/// client must not take for a whole one; <c>stop</c> otherwise. A real API and worker, the
/// simulator over HTTP (the OpenAI wire a real provider speaks), a real Redis.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class FinishReasonTests
{
    [Fact]
    public async Task Result_FinishReason_LengthWhenCutAtMaxTokens_StopForAWholeAnswer()
    {
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
        });
        var settings = Providers.ProviderSetup.Worker(simulator);
        await using var setup = await ResultsSetup.StartAsync(settings);
        await setup.Harness.StartWorkerAsync(settings, "worker");

        // The simulator's answer is some 30 tokens: 5 cut it.
        var cut = await setup.SubmitAsync("Tell me about leases.", maxTokens: 5);
        var whole = await setup.SubmitAsync("Tell me about leases.");
        foreach (var id in new[] { cut, whole })
        {
            await setup.WaitForStatusAsync(id, "completed", TimeSpan.FromSeconds(60));
        }

        var cutResult = (await setup.GetJobAsync(cut))["result"]!;
        Assert.Equal("length", cutResult["finishReason"]!.GetValue<string>());
        Assert.Equal(5, cutResult["usage"]!["completionTokens"]!.GetValue<long>());
        var wholeResult = (await setup.GetJobAsync(whole))["result"]!;
        Assert.Equal("stop", wholeResult["finishReason"]!.GetValue<string>());
        Assert.True(wholeResult["usage"]!["completionTokens"]!.GetValue<long>() > 5, wholeResult.ToJsonString());
    }
}
