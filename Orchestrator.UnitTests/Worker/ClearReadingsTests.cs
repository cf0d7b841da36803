using Microsoft.Extensions.Time.Testing;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// A clear reading of a deployment without limits is reused only while it is younger than
/// <see cref="ClearReadings.ReuseFor"/> (half of <see cref="DeploymentFlowControl.FreshFor"/>),
/// counted from when it was asked, and not at all once the worker heard a 429; the call that finds
/// it past <see cref="ClearReadings.RenewAfter"/> renews it, one renewal at a time.
/// </summary>
public sealed class ClearReadingsTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch);

    [Fact]
    public void Fresh_UntilReuseForHasPassedSinceTheQuestion()
    {
        var readings = new ClearReadings(_clock);
        var asked = _clock.GetTimestamp();
        readings.Record("p", asked);

        Assert.True(ClearReadings.ReuseFor < DeploymentFlowControl.FreshFor);
        _clock.Advance(ClearReadings.ReuseFor - TimeSpan.FromMilliseconds(1));
        Assert.Equal(asked, readings.Fresh("p"));

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(readings.Fresh("p"));
    }

    [Fact]
    public void Fresh_OfAnotherDeployment_IsNotThisOnes()
    {
        var readings = new ClearReadings(_clock);
        readings.Record("p", _clock.GetTimestamp());

        Assert.Null(readings.Fresh("q"));
    }

    [Fact]
    public void Forget_EndsTheReadingAtOnce()
    {
        var readings = new ClearReadings(_clock);
        readings.Record("p", _clock.GetTimestamp());

        readings.Forget("p");

        Assert.Null(readings.Fresh("p"));
    }

    [Fact]
    public void Record_OfAQuestionAskedBeforeAForget_IsNotTaken()
    {
        var readings = new ClearReadings(_clock);
        var askedBefore = _clock.GetTimestamp();
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        readings.Forget("p");

        // A call in flight when the 429 was heard: its answers come back after the forget.
        readings.Record("p", askedBefore);
        readings.RecordWithoutCooldown("p", askedBefore);
        Assert.Null(readings.Fresh("p"));
        Assert.Null(readings.LatestWithoutCooldown("p"));

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        var askedAfter = _clock.GetTimestamp();
        readings.Record("p", askedAfter);
        Assert.Equal(askedAfter, readings.Fresh("p"));
    }

    [Fact]
    public void Record_AnOlderReadingAfterANewerOne_KeepsTheNewer()
    {
        var readings = new ClearReadings(_clock);
        var older = _clock.GetTimestamp();
        _clock.Advance(TimeSpan.FromMilliseconds(10));
        var newer = _clock.GetTimestamp();

        readings.Record("p", newer);
        readings.Record("p", older);

        Assert.Equal(newer, readings.Fresh("p"));
    }

    [Fact]
    public void LatestWithoutCooldown_IsTheLaterOfClearReadingsAndAnswersWithoutCooldown_UntilForgotten()
    {
        var readings = new ClearReadings(_clock);
        var clear = _clock.GetTimestamp();
        readings.Record("p", clear);
        Assert.Equal(clear, readings.LatestWithoutCooldown("p"));

        _clock.Advance(TimeSpan.FromSeconds(1));
        var checkedAt = _clock.GetTimestamp();
        readings.RecordWithoutCooldown("p", checkedAt);
        // However old: the caller judges its age. An answer without cooldown is not a clear reading.
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(checkedAt, readings.LatestWithoutCooldown("p"));
        Assert.Null(readings.Fresh("p"));

        readings.Forget("p");
        Assert.Null(readings.LatestWithoutCooldown("p"));
    }

    [Fact]
    public void TryStartRenewal_OncePastRenewAfter_OneAtATime()
    {
        var readings = new ClearReadings(_clock);
        var asked = _clock.GetTimestamp();
        readings.Record("p", asked);

        Assert.True(ClearReadings.RenewAfter < ClearReadings.ReuseFor);
        _clock.Advance(ClearReadings.RenewAfter - TimeSpan.FromMilliseconds(1));
        Assert.False(readings.TryStartRenewal("p", asked));

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(readings.TryStartRenewal("p", asked));
        // In flight: the calls after it go on the reading without starting another.
        Assert.False(readings.TryStartRenewal("p", asked));
        // Each deployment renews its own.
        Assert.True(readings.TryStartRenewal("q", asked));

        readings.RenewalEnded("p");
        Assert.True(readings.TryStartRenewal("p", asked));
    }

    [Theory]
    [InlineData(null, null, null, true)]
    [InlineData(600, null, null, false)]
    [InlineData(null, 100_000, null, false)]
    [InlineData(null, null, 4, false)]
    public void Applies_OnlyToADeploymentWithoutConfiguredLimits(int? requestsPerMinute, int? tokensPerMinute, int? maxConcurrency, bool applies)
    {
        var options = new ProviderOptions { RequestsPerMinute = requestsPerMinute, TokensPerMinute = tokensPerMinute, MaxConcurrency = maxConcurrency };

        Assert.Equal(applies, ClearReadings.Applies(options));
    }
}
