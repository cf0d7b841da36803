using Orchestrator.IntegrationTests.Infrastructure;
using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Calls that start together reserve in one <c>reserve.lua</c> call (the worker's group commit),
/// each as if alone and in order: a limit reached part-way refuses the rest of the batch, another
/// deployment's reservations in the same batch are its own. Real Redis, real script.
/// </summary>
public sealed class ReserveBatchTests
{
    [Fact]
    public async Task ReserveMany_MixedDeployments_OneScriptCallAnsweringEachAsIfAlone()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        // 60 requests a minute with a 2 s burst: two calls pass at once, the third waits a second.
        var paced = new ProviderOptions { Kind = ProviderKinds.OpenAI, RequestsPerMinute = 60 };
        var bounded = new ProviderOptions { Kind = ProviderKinds.OpenAI, MaxConcurrency = 1 };
        var lease = TimeSpan.FromSeconds(30);
        ReserveRequest[] batch =
        [
            new("paced", paced, 100, lease), new("bounded", bounded, 100, lease), new("paced", paced, 100, lease),
            new("paced", paced, 100, lease), new("bounded", bounded, 100, lease),
        ];

        await flow.ReserveAsync("warm", new ProviderOptions { Kind = ProviderKinds.OpenAI }, 1, lease).Bounded();
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var results = await flow.ReserveManyAsync(batch).Bounded();
        var scriptCalls = await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore;

        Assert.Equal(1, scriptCalls);
        Assert.Equal([FlowWait.None, FlowWait.None, FlowWait.None, FlowWait.Capacity, FlowWait.Concurrency], results.Select(r => r.Wait));
        Assert.InRange(results[3].Delay, TimeSpan.FromMilliseconds(900), TimeSpan.FromMilliseconds(1_000));
        Assert.Equal(["paced", "bounded", "paced"], results.Take(3).Select(r => r.Reservation!.Provider));
        Assert.NotNull(results[1].Reservation!.PermitId);
        Assert.Null(results[0].Reservation!.PermitId);
        Assert.Equal(1, await flow.PermitsHeldAsync("bounded").Bounded());
    }
}
