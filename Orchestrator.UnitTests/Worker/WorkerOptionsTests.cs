using System.ComponentModel.DataAnnotations;
using Orchestrator.Worker;

namespace Orchestrator.UnitTests.Worker;

/// <summary>A rule between two settings blames the one that is wrong, once: not its neighbour too.</summary>
public sealed class WorkerOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => Assert.Empty(Validate(new WorkerOptions()));

    [Fact]
    public void LeaseTimeoutOutOfRange_NamesOnlyIt()
    {
        var failure = Assert.Single(Validate(new WorkerOptions { LeaseTimeout = TimeSpan.Zero }));

        Assert.Equal([nameof(WorkerOptions.LeaseTimeout)], failure.MemberNames);
    }

    [Fact]
    public void ReclaimIntervalAboveAValidLeaseTimeout_NamesIt()
    {
        var failure = Assert.Single(Validate(new WorkerOptions { LeaseTimeout = TimeSpan.FromSeconds(5), ReclaimInterval = TimeSpan.FromSeconds(6) }));

        Assert.Equal("Worker:ReclaimInterval must be from 10 ms up to Worker:LeaseTimeout.", failure.ErrorMessage);
    }

    [Fact]
    public void BothOutOfRange_NamesBoth()
    {
        var failures = Validate(new WorkerOptions { LeaseTimeout = TimeSpan.Zero, ReclaimInterval = TimeSpan.FromHours(2) });

        Assert.Equal([nameof(WorkerOptions.LeaseTimeout), nameof(WorkerOptions.ReclaimInterval)], failures.SelectMany(f => f.MemberNames));
    }

    private static List<ValidationResult> Validate(WorkerOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
