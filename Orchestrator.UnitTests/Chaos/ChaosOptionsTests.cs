using Orchestrator.Chaos;

namespace Orchestrator.UnitTests.Chaos;

/// <summary>The chaos run's command line: presets give faults the run's Redis can take.</summary>
public sealed class ChaosOptionsTests
{
    [Fact]
    public void Parse_PresetFull_EveryNonClusterFault()
    {
        var options = ChaosOptions.Parse(["--preset", "full"]);

        Assert.Equal(ChaosOptions.CiFaults.Order(), options.Faults.Order());
        Assert.DoesNotContain(Fault.KillMaster, options.Faults);
        Assert.Equal(ChaosOptions.FullPoisonRate, options.PoisonRate);
        Assert.Equal(1, options.PoisonJobs);
    }

    [Theory]
    [InlineData("--preset", "full", "--cluster")]
    [InlineData("--cluster", "--preset", "full")]
    public void Parse_PresetFullWithCluster_TheClusterFaults(params string[] args)
    {
        var options = ChaosOptions.Parse(args);

        Assert.True(options.Cluster);
        Assert.Equal(ChaosOptions.ClusterFaults.Order(), options.Faults.Order());
        Assert.Equal(ChaosOptions.FullPoisonRate, options.PoisonRate);
    }

    [Fact]
    public void Parse_PoisonRate_DrainsLongerUnlessGiven()
    {
        var lease = ChaosOptions.Parse([]).LeaseTimeout;

        Assert.Equal(ChaosOptions.DefaultDrain + lease, ChaosOptions.Parse([]).DrainTimeout);
        Assert.Equal(ChaosOptions.DefaultDrain + lease, ChaosOptions.Parse(["--preset", "ci"]).DrainTimeout);
        Assert.Equal(ChaosOptions.PoisonRateDrain + lease, ChaosOptions.Parse(["--preset", "full", "--cluster"]).DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(90), ChaosOptions.Parse(["--preset", "full", "--drain", "90"]).DrainTimeout);
    }

    [Fact]
    public void Parse_PresetCi_EveryNonClusterFault() =>
        Assert.Equal(ChaosOptions.CiFaults.Order(), ChaosOptions.Parse(["--preset", "ci"]).Faults.Order());

    [Fact]
    public void Parse_KillMasterWithoutCluster_Refused() =>
        Assert.Equal("kill-master needs --cluster.", Assert.Throws<ArgumentException>(() => ChaosOptions.Parse(["--faults", "kill-master"])).Message);
}
