using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>What the worker hands <c>dispatch.lua</c> about each tenant: weight, concurrency and token limits.</summary>
public sealed class TenantPermitsTests
{
    [Fact]
    public void Policies_OnlyTenantsThatDifferFromTheDefaults_AsWeightConcurrencyTokens()
    {
        var options = new TenantQuotaOptions();
        options.Tenants["acme"] = new TenantQuotas { Weight = 3 };
        options.Tenants["globex"] = new TenantQuotas { MaxConcurrency = 2, TokensPerMinute = 60_000 };
        options.Tenants["initech"] = new TenantQuotas { MaxQueuedJobs = 10 };
        // Weight 1 is the default: sent for each of 1,000 tenants, it was decoded by every script call.
        options.Tenants["umbrella"] = new TenantQuotas { Weight = 1 };

        var permits = TenantPermits.From(options, TimeSpan.FromSeconds(30));

        var policies = JsonSerializer.Deserialize<Dictionary<string, int[]>>(permits.PoliciesJson)!;
        Assert.Equal(["acme", "globex"], policies.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([3, 0, 0], policies["acme"]);
        Assert.Equal([1, 2, 60_000], policies["globex"]);
        Assert.Equal(60_000, permits.TokensPerMinute("globex"));
        Assert.Null(permits.TokensPerMinute("acme"));
        Assert.Equal(30_000, permits.LeaseMs);
        // What start-attempt.lua gets for one job: its tenant's policy alone, nothing for a tenant with the defaults.
        Assert.Equal("""{"globex":[1,2,60000]}""", permits.PolicyJsonOf("globex"));
        Assert.Equal(string.Empty, permits.PolicyJsonOf("initech"));
        Assert.Equal(string.Empty, permits.PolicyJsonOf("unknown"));
    }

    [Fact]
    public void Policies_NoTenantConfigured_Empty()
    {
        var permits = TenantPermits.From(new TenantQuotaOptions(), TimeSpan.FromSeconds(30));

        Assert.Equal(string.Empty, permits.PoliciesJson);
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(TenantQuotas.MaxWeight, true)]
    [InlineData(TenantQuotas.MaxWeight + 1, false)]
    public void Weight_From1To1000(int weight, bool valid)
    {
        var quotas = new TenantQuotas { Weight = weight };

        Assert.Equal(valid, Validator.TryValidateObject(quotas, new ValidationContext(quotas), [], validateAllProperties: true));
    }

    [Theory]
    [InlineData("00:00:00.050", false)]
    [InlineData("00:00:00.100", true)]
    [InlineData("00:10:00", true)]
    [InlineData("2.00:00:00", false)]
    public void MaxLowPriorityWait_From100MsToOneDay(string wait, bool valid)
    {
        var options = new SchedulingOptions { MaxLowPriorityWait = TimeSpan.Parse(wait, System.Globalization.CultureInfo.InvariantCulture) };

        Assert.Equal(valid, !options.Validate(new ValidationContext(options)).Any());
    }
}
