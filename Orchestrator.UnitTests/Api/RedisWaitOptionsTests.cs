using System.ComponentModel.DataAnnotations;
using Orchestrator.Api;

namespace Orchestrator.UnitTests.Api;

/// <summary><see cref="RedisWaitOptions"/>: what the API refuses to start with.</summary>
public sealed class RedisWaitOptionsTests
{
    [Fact]
    public void Validate_Defaults_NoReplicasOneSecond()
    {
        var options = new RedisWaitOptions();

        Assert.Empty(Validate(options));
        Assert.Equal(0, options.WaitReplicas);
        Assert.Equal(TimeSpan.FromSeconds(1), options.WaitTimeout);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(17)]
    public void Validate_WaitReplicasOutOfRange_FailsNamingIt(int replicas)
    {
        var failure = Assert.Single(Validate(new RedisWaitOptions { WaitReplicas = replicas }));

        Assert.Equal([nameof(RedisWaitOptions.WaitReplicas)], failure.MemberNames);
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:00:02.001")]
    public void Validate_WaitTimeoutOutOfRange_FailsNamingIt(string timeout)
    {
        var failure = Assert.Single(Validate(new RedisWaitOptions { WaitReplicas = 1, WaitTimeout = TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture) }));

        Assert.Contains("Redis:WaitTimeout", failure.ErrorMessage, StringComparison.Ordinal);
    }

    private static List<ValidationResult> Validate(RedisWaitOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
