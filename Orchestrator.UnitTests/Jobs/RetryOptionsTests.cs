using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Orchestrator.Jobs;
using Polly;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// <see cref="RetryOptions.AttemptTimeout"/>: refused at start below what Polly's timeout accepts (the
/// worker's pipeline would not build), and above the hour the project allows.
/// </summary>
public sealed class RetryOptionsTests
{
    [Theory]
    [InlineData("00:00:00.010")]
    [InlineData("01:00:00")]
    public void Validate_AttemptTimeoutAtBounds_SucceedsAndBuilds(string timeout)
    {
        var value = Parse(timeout);

        Assert.Empty(Validate(new RetryOptions { AttemptTimeout = value }));
        Assert.True(PollyBuilds(value));
    }

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:00:00.009")]
    [InlineData("01:00:00.001")]
    public void Validate_AttemptTimeoutOutOfRange_FailsNamingIt(string timeout)
    {
        var failure = Assert.Single(Validate(new RetryOptions { AttemptTimeout = Parse(timeout) }));

        Assert.Equal("Retry:AttemptTimeout must be from 00:00:00.010 to 01:00:00.", failure.ErrorMessage);
        Assert.Equal([nameof(RetryOptions.AttemptTimeout)], failure.MemberNames);
    }

    /// <summary>One mistake, one line: a base delay over the hour also blamed the default max delay (1 minute).</summary>
    [Fact]
    public void Validate_BaseDelayOutOfRange_NamesOnlyIt()
    {
        var failure = Assert.Single(Validate(new RetryOptions { BaseDelay = TimeSpan.FromHours(2) }));

        Assert.Equal([nameof(RetryOptions.BaseDelay)], failure.MemberNames);
    }

    [Fact]
    public void Validate_MaxDelayUnderAValidBaseDelay_NamesIt()
    {
        var failure = Assert.Single(Validate(new RetryOptions { BaseDelay = TimeSpan.FromMinutes(2), MaxDelay = TimeSpan.FromMinutes(1) }));

        Assert.Equal([nameof(RetryOptions.MaxDelay)], failure.MemberNames);
    }

    [Fact]
    public void Polly_RefusesATimeoutUnder10Ms() => Assert.False(PollyBuilds(TimeSpan.FromMilliseconds(9)));

    private static TimeSpan Parse(string value) => TimeSpan.Parse(value, CultureInfo.InvariantCulture);

    private static List<ValidationResult> Validate(RetryOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }

    // As LlmPipeline adds the per-attempt timeout.
    private static bool PollyBuilds(TimeSpan timeout)
    {
        try
        {
            new ResiliencePipelineBuilder().AddTimeout(timeout).Build();
            return true;
        }
        catch (ValidationException)
        {
            return false;
        }
    }
}
