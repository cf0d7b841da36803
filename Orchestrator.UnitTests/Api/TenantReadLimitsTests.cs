using Orchestrator.Api.Auth;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// <see cref="TenantReadLimits.Bucket"/>: one second's reads in the bucket, refilled at the rate in
/// steps of a tenth of it (one token at least), never faster than the rate.
/// </summary>
public sealed class TenantReadLimitsTests
{
    [Theory]
    [InlineData(1, 1, 1000)]
    [InlineData(2, 1, 500)]
    [InlineData(25, 2, 80)]
    [InlineData(1000, 100, 100)]
    [InlineData(1_000_000, 100_000, 100)]
    public void Bucket_HoldsOneSecond_RefillsAtTheRate(int perSecond, int perStep, int stepMs)
    {
        var bucket = TenantReadLimits.Bucket(perSecond);

        Assert.Equal((perSecond, perStep, TimeSpan.FromMilliseconds(stepMs), 0), (bucket.TokenLimit, bucket.TokensPerPeriod, bucket.ReplenishmentPeriod, bucket.QueueLimit));
        Assert.Equal(perSecond, bucket.TokensPerPeriod / bucket.ReplenishmentPeriod.TotalSeconds, precision: 6);
    }
}
