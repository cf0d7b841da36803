using System.ComponentModel.DataAnnotations;
using Orchestrator.Api;

namespace Orchestrator.UnitTests.Api;

/// <summary>The storage bounds are validated at start: a value that would disable them is refused, naming the setting.</summary>
public sealed class ApiOptionsTests
{
    [Fact]
    public void Defaults_MaxQueuedJobs100000_MaxMetadataBytes16KiB_Valid()
    {
        var options = new ApiOptions();

        Assert.Equal(100_000, options.MaxQueuedJobs);
        Assert.Equal(16 * 1024, options.MaxMetadataBytes);
        Assert.Empty(Validate(options));
    }

    [Theory]
    [InlineData(0, 16384, nameof(ApiOptions.MaxQueuedJobs))]
    [InlineData(-1, 16384, nameof(ApiOptions.MaxQueuedJobs))]
    [InlineData(100, 0, nameof(ApiOptions.MaxMetadataBytes))]
    [InlineData(100, 2 * 1024 * 1024, nameof(ApiOptions.MaxMetadataBytes))]
    public void OutOfRange_IsRefusedNamingTheSetting(int maxQueuedJobs, int maxMetadataBytes, string setting)
    {
        var errors = Validate(new ApiOptions { MaxQueuedJobs = maxQueuedJobs, MaxMetadataBytes = maxMetadataBytes });

        Assert.Contains(errors, e => e.MemberNames.Contains(setting));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(1_000_000, true)]
    [InlineData(1_000_001, false)]
    public void PerTenantLimits_FromOneToAMillion_UnsetByDefault(int value, bool valid)
    {
        Assert.Null(new ApiOptions().MaxConcurrentWaitsPerTenant);
        Assert.Null(new ApiOptions().ReadsPerSecondPerTenant);

        var errors = Validate(new ApiOptions { MaxConcurrentWaitsPerTenant = value, ReadsPerSecondPerTenant = value });

        Assert.Equal(valid, !errors.Any(e => e.MemberNames.Contains(nameof(ApiOptions.MaxConcurrentWaitsPerTenant))));
        Assert.Equal(valid, !errors.Any(e => e.MemberNames.Contains(nameof(ApiOptions.ReadsPerSecondPerTenant))));
    }

    private static List<ValidationResult> Validate(ApiOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
