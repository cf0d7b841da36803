using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// <see cref="PartitionFaults"/>: a failing partition is passed by, asked again in the background
/// once its wait (doubling from 1 s to 10 s) is over, and asked as usual once that read is answered.
/// </summary>
public sealed class PartitionFaultsTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void HealthyPartition_NotPassedBy_NoProbe()
    {
        var faults = new PartitionFaults(_time);
        var probes = 0;

        Assert.False(faults.PassBy(2, () => { probes++; return Task.CompletedTask; }, out var cause));
        Assert.Null(cause);
        Assert.Equal(0, probes);
    }

    [Fact]
    public void FailedPartition_PassedBy_ProbedOnlyOnceItsWaitIsOver_ThenAskedAgain()
    {
        var faults = new PartitionFaults(_time);
        var failure = new TimeoutException("no reply");
        var probes = 0;
        Func<Task> probe = () => { probes++; return Task.CompletedTask; };

        faults.Failed(1, failure);

        Assert.True(faults.PassBy(1, probe, out var cause));
        Assert.Same(failure, cause);
        Assert.Equal(0, probes);
        Assert.False(faults.PassBy(0, probe, out _));

        _time.Advance(PartitionFaults.FirstWait);
        // Passed by this sweep still: the probe answers for the next.
        Assert.True(faults.PassBy(1, probe, out _));
        Assert.Equal(1, probes);
        Assert.False(faults.PassBy(1, probe, out _));
        Assert.False(faults.Any);
    }

    [Fact]
    public void ProbeThatFails_TheWaitDoubles_UpToTheLongest()
    {
        var faults = new PartitionFaults(_time);
        var probes = 0;
        Func<Task> failing = () => { probes++; return Task.FromException(new TimeoutException("still frozen")); };
        faults.Failed(0, new TimeoutException("no reply"));

        var waits = new List<TimeSpan>();
        var wait = PartitionFaults.FirstWait;
        for (var i = 0; i < 7; i++)
        {
            _time.Advance(wait - TimeSpan.FromMilliseconds(1));
            faults.PassBy(0, failing, out _);
            Assert.Equal(i, probes);
            _time.Advance(TimeSpan.FromMilliseconds(1));
            Assert.True(faults.PassBy(0, failing, out var cause));
            Assert.Equal(i + 1, probes);
            // The cause a sweep rethrows when no partition answered: the last failure's.
            Assert.Equal(i == 0 ? "no reply" : "still frozen", cause!.Message);
            waits.Add(wait);
            wait = wait * 2 < PartitionFaults.LongestWait ? wait * 2 : PartitionFaults.LongestWait;
        }

        Assert.Equal([1, 2, 4, 8, 10, 10, 10], waits.Select(w => w.TotalSeconds));
    }

    [Fact]
    public void Answered_ThePartitionIsAskedAgainAtOnce()
    {
        var faults = new PartitionFaults(_time);
        faults.Failed(3, new TimeoutException("no reply"));
        faults.Failed(3, new TimeoutException("no reply"));

        faults.Answered(3);

        Assert.False(faults.PassBy(3, () => Task.CompletedTask, out _));
    }
}
