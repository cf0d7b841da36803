using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;

namespace Orchestrator.UnitTests.Worker;

/// <summary><see cref="LoopSupervisor"/>: what ends a loop, and what is a fault it survives.</summary>
public sealed class LoopSupervisorTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly LoopSupervisor _supervisor;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public LoopSupervisorTests() =>
        _supervisor = new LoopSupervisor(new OrchestratorMetrics(_services.GetRequiredService<IMeterFactory>()), _time, NullLogger<LoopSupervisor>.Instance);

    [Fact]
    public async Task StepMeetsWhatTheStoppingHostDisposed_LoopEnds_NoFault()
    {
        using var stopping = new CancellationTokenSource();
        await _supervisor.RunAsync("fetch", _ =>
        {
            stopping.Cancel();
            throw new ObjectDisposedException("WorkerSlots");
        }, stopping.Token).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.False(_supervisor.ConsecutiveFaults.ContainsKey("fetch"));
    }

    [Fact]
    public async Task StepThrowsDisposedWhileRunning_AFault_TheLoopGoesOn()
    {
        using var stopping = new CancellationTokenSource();
        var steps = 0;
        var run = _supervisor.RunAsync("fetch", _ =>
        {
            if (++steps == 2)
            {
                stopping.Cancel();
                return Task.CompletedTask;
            }

            throw new ObjectDisposedException("something a bug disposed");
        }, stopping.Token);
        // The fault's backoff runs on the fake clock: moved on until the loop's second step ends it.
        await FakeClocks.AdvanceUntilDoneAsync(_time, run, TimeSpan.FromSeconds(1));

        await run.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(2, steps);
        Assert.Equal(0, _supervisor.ConsecutiveFaults["fetch"]);
    }
}
