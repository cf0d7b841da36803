using Orchestrator.Jobs;
using Orchestrator.Worker.Resilience;

namespace Orchestrator.UnitTests.Worker;

public sealed class RetryDelayTests
{
    private static RetryOptions Options(bool jitter, int maxDelayMs = 60_000) => new()
    {
        BaseDelay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromMilliseconds(maxDelayMs),
        UseJitter = jitter,
    };

    [Theory]
    [InlineData(1, 100)]
    [InlineData(2, 200)]
    [InlineData(3, 400)]
    [InlineData(4, 800)]
    [InlineData(5, 1_600)]
    [InlineData(10, 51_200)]
    public void After_NoJitter_DoublesFromBaseDelay(int attempt, int expectedMs)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryDelay.After(attempt, Options(jitter: false), random: 0.9));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(11)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(1_000)]
    [InlineData(int.MaxValue)]
    public void After_NoJitterPastCap_ReturnsMaxDelay(int attempt)
    {
        Assert.Equal(TimeSpan.FromSeconds(1), RetryDelay.After(attempt, Options(jitter: false, maxDelayMs: 1_000), random: 0.5));
    }

    [Fact]
    public void After_AttemptZero_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RetryDelay.After(0, Options(jitter: false), 0.5));
    }

    [Theory]
    [InlineData(0.0, 300)]
    [InlineData(0.5, 400)]
    [InlineData(0.25, 350)]
    public void After_Jitter_ScalesLinearlyWithinQuarter(double random, int expectedMs)
    {
        // Attempt 3: nominal 400 ms; random 0 gives −25 %, 0.5 the nominal value.
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), RetryDelay.After(3, Options(jitter: true), random));
    }

    [Fact]
    public void After_JitterOverManyRandomValues_StaysWithinQuarterAndBelowMaxDelay()
    {
        var options = Options(jitter: true, maxDelayMs: 1_000);
        var random = new Random(1234);
        double[] edges = [0.0, 1e-12, 0.5, 0.999_999_999_999, Math.BitDecrement(1.0)];
        var values = edges.Concat(Enumerable.Range(0, 10_000).Select(_ => random.NextDouble())).ToList();

        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var nominal = Math.Min(100 * Math.Pow(2, attempt - 1), 1_000);
            var delays = values.Select(r => RetryDelay.After(attempt, options, r).TotalMilliseconds).ToList();

            Assert.All(delays, d => Assert.InRange(d, nominal * 0.75 - 0.001, Math.Min(nominal * 1.25, 1_000) + 0.001));
            // The spread is really used: close to both ends of the band (or to the cap).
            Assert.InRange(delays.Min(), nominal * 0.75 - 0.001, nominal * 0.76);
            Assert.InRange(delays.Max(), Math.Min(nominal * 1.24, 1_000 * 0.99), Math.Min(nominal * 1.25, 1_000) + 0.001);
        }
    }
}
