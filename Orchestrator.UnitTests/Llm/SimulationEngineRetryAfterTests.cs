using Microsoft.Extensions.Time.Testing;
using Orchestrator.Llm.Simulation;

namespace Orchestrator.UnitTests.Llm;

/// <summary>How the simulator judges calls against the Retry-After windows it announced (<c>/stats</c>).</summary>
public sealed class SimulationEngineRetryAfterTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly SimulationEngine _engine;

    public SimulationEngineRetryAfterTests()
    {
        _engine = new SimulationEngine(new SimulatorOptions { AnnouncementGrace = TimeSpan.FromMilliseconds(100) }, _clock);
    }

    // A forced 429 announces a Retry-After of 1 s.
    private SimulatedPlan RateLimited() =>
        _engine.Plan(new SimulatedCall("m", "q", null, new Dictionary<string, string> { [SimulatorHints.Error] = "rate_limit" }, 1));

    private SimulatedPlan Call(long? arrivedAt = null) => _engine.Plan(new SimulatedCall("m", "q", null, null, 1, arrivedAt));

    private void At(int ms) => _clock.Advance(TimeSpan.FromMilliseconds(ms));

    [Fact]
    public void CallsAfterA429_InsideItsWindow_CountedInside_PastTheGraceOnlyAfterIt()
    {
        Assert.NotNull(RateLimited().Rejection?.RetryAfter);
        At(50);
        Call();
        At(150);
        Call();
        At(900);
        Call();

        var stats = _engine.Stats();
        Assert.Equal(2, stats.CallsInsideRetryAfter);
        Assert.Equal(1, stats.CallsInsideRetryAfterPastGrace);
    }

    [Fact]
    public void ALater429ExtendingAWindow_GivesItsOwnGrace()
    {
        RateLimited();
        At(990);
        RateLimited();
        // 1,050 ms: past the first window, 60 ms into the second's: on the wire before the fleet could know.
        At(60);
        Call();
        // 1,150 ms: 160 ms after the second 429 was answered: the fleet could have known.
        At(100);
        Call();

        var stats = _engine.Stats();
        Assert.Equal(3, stats.CallsInsideRetryAfter);
        Assert.Equal(2, stats.CallsInsideRetryAfterPastGrace);
    }

    [Fact]
    public void ACallThatArrivedBeforeThe429_ReadAfterIt_IsNotInside()
    {
        var arrived = _clock.GetTimestamp();
        At(10);
        RateLimited();
        At(300);
        Call(arrivedAt: arrived);

        var stats = _engine.Stats();
        Assert.Equal(0, stats.CallsInsideRetryAfter);
        Assert.Equal(0, stats.CallsInsideRetryAfterPastGrace);
    }

    // A deployment of 2 requests a minute (one every 30 s) is told the rest of the window, to the
    // millisecond: a call that arrives 1 ms before the window ends is asked to wait 1 ms, not 30 s.
    [Fact]
    public void ARateLimit_AsksForTheRestOfItsWindow_DownToAMillisecond()
    {
        var engine = new SimulationEngine(new SimulatorOptions { RequestsPerMinute = 2, Burst = TimeSpan.FromSeconds(1) }, _clock);
        SimulatedPlan Plain() => engine.Plan(new SimulatedCall("m", "q", null, null, 1));

        Assert.Null(Plain().Rejection);
        At(10);
        Assert.Equal(TimeSpan.FromMilliseconds(29_990), Plain().Rejection?.RetryAfter);
        At(29_989);
        Assert.Equal(TimeSpan.FromMilliseconds(1), Plain().Rejection?.RetryAfter);
        At(1);
        Assert.Null(Plain().Rejection);
    }
}
