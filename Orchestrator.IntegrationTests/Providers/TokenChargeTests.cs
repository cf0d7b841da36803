using StackExchange.Redis;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// After a call, a deployment's tokens-per-minute limit holds what the deployment counted: the usage
/// by default, or the call's requested tokens (prompt + <c>maxTokens</c>) for one that charges them
/// and gives nothing back (<c>Llm:Providers:{p}:ChargesRequestedTokens</c>, as OpenAI counts <c>max_tokens</c>).
/// </summary>
public sealed class TokenChargeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AfterACall_TheTokensLimitHoldsTheUsage_OrTheRequestedTokens(bool chargesRequested)
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Usage: 12 prompt + 1 completion tokens.
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Answer("Short."));
        var provider = fake.Provider("m");
        // One token a millisecond: a charge of 10,000 tokens is 10 s of the limit's time ahead.
        provider.TokensPerMinute = 60_000;
        provider.ChargesRequestedTokens = chargesRequested;
        await using var services = InProcessLlmCaller.Build(harness, provider);

        await services.GetRequiredService<LlmCaller>()
            .CallAsync("job-charge", new JobRequest("Explain leases.", "m", MaxTokens: 10_000), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        var tat = await harness.Db.StringGetAsync($"{harness.Keys.Prefix}:llm:{InProcessLlmCaller.Provider}:tpm");
        var time = await harness.Db.ExecuteAsync("TIME");
        var now = ((long)((RedisResult[])time!)[0] * 1000) + ((long)((RedisResult[])time!)[1] / 1000);
        var ahead = tat.IsNull ? 0 : (double)tat - now;
        if (chargesRequested)
        {
            Assert.InRange(ahead, 5_000, 10_100);
        }
        else
        {
            // Settled to 13 tokens: 13 ms ahead at most (the key may be gone already).
            Assert.InRange(ahead, double.MinValue, 100);
        }
    }
}
