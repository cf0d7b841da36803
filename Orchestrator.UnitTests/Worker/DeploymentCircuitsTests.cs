using Microsoft.Extensions.Options;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Polly;
using Polly.CircuitBreaker;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// <see cref="DeploymentCircuits"/>: a deployment's circuit stays open for its break as the host's
/// monotonic clock counts it, whatever is done to the wall clock meanwhile (Polly's breaker alone
/// times it on the wall clock).
/// </summary>
public sealed class DeploymentCircuitsTests
{
    private const string Provider = "alpha";
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(5);

    [Theory]
    [InlineData(-600)]
    [InlineData(600)]
    public async Task AStepOfTheHostsClock_NeitherLengthensNorEndsTheBreak(int seconds)
    {
        var host = new SteppedWallClock();
        var circuits = new DeploymentCircuits(
            Options.Create(new LlmOptions { CircuitMinimumThroughput = 2, CircuitFailureRatio = 0.5, CircuitBreakDuration = Break }), host);
        for (var i = 0; i < 2; i++)
        {
            await CallAsync(circuits, succeed: false);
        }

        host.Step = TimeSpan.FromSeconds(seconds);
        host.Fake.Advance(Break - TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(1), circuits.OpenFor(Provider));
        Assert.IsType<BrokenCircuitException>((await CallAsync(circuits, succeed: true)).Exception);

        host.Fake.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, circuits.OpenFor(Provider));
        var probe = await CallAsync(circuits, succeed: true);
        Assert.Equal("answer", probe.Result);
    }

    private static ValueTask<Outcome<string>> CallAsync(DeploymentCircuits circuits, bool succeed) =>
        circuits.ExecuteAsync(
            Provider,
            static (ok, _) => ValueTask.FromResult(ok
                ? Outcome.FromResult("answer")
                : Outcome.FromException<string>(new CallTimeoutException(new OperationCanceledException(), CancellationToken.None))),
            succeed,
            CancellationToken.None);
}
