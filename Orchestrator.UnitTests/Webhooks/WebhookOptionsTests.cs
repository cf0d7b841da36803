using System.ComponentModel.DataAnnotations;
using System.Net.Http.Headers;
using Orchestrator.Jobs;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

public sealed class WebhookOptionsTests
{
    [Fact]
    public void Defaults_AreValid() => Assert.Empty(Validate(new WebhookOptions()));

    [Theory]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", true)]
    [InlineData("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", true)]
    [InlineData("whsec_c2hvcnQ=", false)]          // 5 bytes
    [InlineData("whsec_not base64!", false)]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0= whsec_YWNtZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==", true)]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0= whsec_c2hvcnQ=", false)]
    [InlineData("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0= MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0= whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0= MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", false)]
    public void Secret_MustBeBase64Of24To64Bytes_OrUpToThreeSuchKeys(string secret, bool valid) =>
        Assert.Equal(valid, Validate(new WebhookOptions { Secret = secret }).Count == 0);

    [Fact]
    public void SecretKeys_AreTheKeysInTheOrderGiven_NoneWithoutASecret()
    {
        var options = new WebhookOptions { Secret = "whsec_YWNtZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==  whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=" };

        Assert.Equal([Convert.FromBase64String("YWNtZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="), Convert.FromBase64String("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=")], options.SecretKeys());
        Assert.Empty(new WebhookOptions().SecretKeys());
    }

    [Theory]
    [InlineData("acme", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", null)]
    [InlineData("acme", "whsec_c2hvcnQ=", "Webhooks:TenantSecrets:acme must be 'whsec_' followed by base64 of 24 to 64 random bytes")]
    [InlineData("acme", "", "Webhooks:TenantSecrets:acme must be 'whsec_' followed by base64 of 24 to 64 random bytes")]
    [InlineData("Acme:Corp", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", "Webhooks:TenantSecrets:Acme:Corp: 'Acme:Corp' is not a tenant name")]
    public void TenantSecret_MustBeATenantsName_AndASecretOfTheSameForm(string tenant, string secret, string? error)
    {
        var options = new WebhookOptions { TenantSecrets = { [tenant] = secret } };

        var results = Validate(options);

        if (error is null)
        {
            Assert.Empty(results);
            Assert.Equal(Convert.FromBase64String("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0="), Assert.Single(options.TenantSecretKeys()[tenant]));
        }
        else
        {
            Assert.StartsWith(error, Assert.Single(results).ErrorMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void LeaseTimeout_MustExceedRequestTimeout() =>
        Assert.NotEmpty(Validate(new WebhookOptions { RequestTimeout = TimeSpan.FromSeconds(30), LeaseTimeout = TimeSpan.FromSeconds(30) }));

    [Fact]
    public void BaseDelay_AboveMaxDelay_IsInvalid() =>
        Assert.NotEmpty(Validate(new WebhookOptions { BaseDelay = TimeSpan.FromHours(2), MaxDelay = TimeSpan.FromHours(1) }));

    /// <summary>One mistake, one line: a wrong setting also blamed the neighbour checked against it.</summary>
    [Theory]
    [InlineData("MaxDelay", "-00:00:01", nameof(WebhookOptions.MaxDelay))]
    [InlineData("MaxDelay", "00:00:00.005", nameof(WebhookOptions.MaxDelay))]
    [InlineData("RequestTimeout", "00:10:00", nameof(WebhookOptions.RequestTimeout))]
    public void OneSettingOutOfRange_NamesOnlyIt(string setting, string value, string named)
    {
        var options = new WebhookOptions();
        typeof(WebhookOptions).GetProperty(setting)!.SetValue(options, TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal([named], Assert.Single(Validate(options)).MemberNames);
    }

    [Fact]
    public void LeaseTimeoutUnderAnyRequestTimeout_IsNamedBesideAWrongRequestTimeout() =>
        Assert.Equal(
            [nameof(WebhookOptions.RequestTimeout), nameof(WebhookOptions.LeaseTimeout)],
            Validate(new WebhookOptions { RequestTimeout = TimeSpan.Zero, LeaseTimeout = TimeSpan.FromMilliseconds(50) }).SelectMany(f => f.MemberNames));

    [Theory]
    [InlineData(0, "00:00:30", true)]
    [InlineData(1_000, "1.00:00:00", true)]
    [InlineData(5, "00:00:00.100", true)]
    [InlineData(-1, "00:00:30", false)]
    [InlineData(1_001, "00:00:30", false)]
    [InlineData(5, "00:00:00.050", false)]
    [InlineData(5, "1.00:00:01", false)]
    public void Circuit_FailuresFrom0To1000_BreakFrom100msToADay(int failures, string breakDuration, bool valid) =>
        Assert.Equal(valid, Validate(new WebhookOptions
        {
            CircuitFailures = failures,
            CircuitBreakDuration = TimeSpan.Parse(breakDuration, System.Globalization.CultureInfo.InvariantCulture),
        }).Count == 0);

    [Theory]
    [InlineData(1, true)]
    [InlineData(1_000, true)]
    [InlineData(0, false)]
    [InlineData(1_001, false)]
    public void MaxConcurrentPerReceiver_From1To1000(int value, bool valid) =>
        Assert.Equal(valid, Validate(new WebhookOptions { MaxConcurrentPerReceiver = value }).Count == 0);

    [Theory]
    [InlineData(1, true)]
    [InlineData(1_000, true)]
    [InlineData(0, false)]
    [InlineData(1_001, false)]
    public void MaxConcurrentPerTenant_From1To1000(int value, bool valid) =>
        Assert.Equal(valid, Validate(new WebhookOptions { MaxConcurrentPerTenant = value }).Count == 0);

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 10)]
    [InlineData(3, 20)]
    [InlineData(10, 2560)]
    [InlineData(11, 3600)]   // capped at MaxDelay
    [InlineData(100, 3600)]
    public void Backoff_DoublesFromBaseDelayUpToMaxDelay(int attempt, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), WebhookSender.Backoff(attempt, TimeSpan.FromSeconds(5), TimeSpan.FromHours(1)));

    [Theory]
    [InlineData("120", 120)]
    [InlineData("Mon, 07 Dec 2026 10:00:30 GMT", 30)]
    [InlineData("Mon, 07 Dec 2026 09:59:00 GMT", 0)] // a date past is no wait
    public void RetryAfter_SecondsOrAnHttpDate(string value, int seconds)
    {
        var now = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(seconds), WebhookSender.RetryAfter(RetryConditionHeaderValue.Parse(value), sent: null, now));
    }

    [Fact]
    public void RetryAfter_NoneIsNull() => Assert.Null(WebhookSender.RetryAfter(null, sent: null, DateTimeOffset.UnixEpoch));

    /// <summary>A date is on the receiver's clock, as its answer's <c>Date</c> is: counted from that, whatever Redis's clock says.</summary>
    [Theory]
    [InlineData(-300)]
    [InlineData(300)]
    public void RetryAfter_AnHttpDate_IsCountedFromTheAnswersDate(int redisAheadSeconds)
    {
        var sent = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
        Assert.Equal(TimeSpan.FromSeconds(8),
            WebhookSender.RetryAfter(RetryConditionHeaderValue.Parse("Mon, 07 Dec 2026 10:00:08 GMT"), sent, sent.AddSeconds(redisAheadSeconds)));
    }

    private static List<ValidationResult> Validate(WebhookOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results;
    }
}
