using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Auth;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// <see cref="AuthOptionsValidator"/>: unusable entries and a key that would make a caller ambiguous
/// fail validation (so the API refuses to start), with messages that name the tenant and the entry,
/// never the key.
/// </summary>
public sealed class AuthOptionsValidatorTests
{
    private const string Key = "a-perfectly-good-key-0123456789";

    [Fact]
    public void Validate_SameKeyForTwoTenants_FailsNamingBothTenantsNotTheKey()
    {
        var result = Validate(new AuthOptions { Tenants = { ["acme"] = Tenant(Key), ["globex"] = Tenant(Key) } });

        var message = Assert.Single(result.Failures!);
        Assert.Contains("acme", message, StringComparison.Ordinal);
        Assert.Contains("globex", message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SameKeyAsPlainAndAsHash_FailsAsTheSameKey()
    {
        var hash = "sha256:" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Key)));

        var result = Validate(new AuthOptions { AdminKeys = [Key], Tenants = { ["acme"] = Tenant(hash) } });

        var message = Assert.Single(result.Failures!);
        Assert.Contains("acme", message, StringComparison.Ordinal);
        Assert.Contains("AdminKeys", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tiny-key")]
    [InlineData("")]
    [InlineData("sha256:abc")]
    [InlineData("sha256:zz00000000000000000000000000000000000000000000000000000000000000")]
    // Header values lose their edge spaces and carry bytes, not UTF-8: these keys could never be presented.
    [InlineData("  a-perfectly-good-key-0123456789")]
    [InlineData("a-perfectly-good-key-0123456789\t")]
    [InlineData("clé-ünïcødé-0123456789")]
    [InlineData("a-perfectly-good\nkey-0123456789")]
    public void Validate_UnusableEntry_FailsNamingTheEntryNotItsValue(string entry)
    {
        var result = Validate(new AuthOptions { Tenants = { ["acme"] = Tenant(entry) } });

        var message = Assert.Single(result.Failures!);
        Assert.Contains("Tenants:acme:ApiKeys:0", message, StringComparison.Ordinal);
        if (entry.Length > 0)
        {
            Assert.DoesNotContain(entry.Replace("sha256:", "", StringComparison.Ordinal), message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Acme")]
    [InlineData("a:b")]
    [InlineData("-acme")]
    [InlineData("{orch}")]
    public void Validate_BadTenantName_Fails(string tenant)
    {
        var result = Validate(new AuthOptions { Tenants = { [tenant] = Tenant(Key) } });

        Assert.Contains(tenant, Assert.Single(result.Failures!), StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_KeysForTenantDefaultWithAnonymousAccess_FailsNamingBoth()
    {
        var result = Validate(new AuthOptions { AllowAnonymous = true, Tenants = { ["default"] = Tenant(Key) } });

        var message = Assert.Single(result.Failures!);
        Assert.Contains("Tenants:default:ApiKeys", message, StringComparison.Ordinal);
        Assert.Contains("Auth:AllowAnonymous", message, StringComparison.Ordinal);
        Assert.True(Validate(new AuthOptions { AllowAnonymous = false, Tenants = { ["default"] = Tenant(Key) } }).Succeeded);
        Assert.True(Validate(new AuthOptions { AllowAnonymous = true, Tenants = { ["acme"] = Tenant(Key) } }).Succeeded);
    }

    [Fact]
    public void Validate_KeyWithASpaceInside_Succeeds()
    {
        Assert.True(Validate(new AuthOptions { Tenants = { ["acme"] = Tenant("a perfectly good key 0123456789") } }).Succeeded);
    }

    [Fact]
    public void Validate_SameKeyTwiceForOneTenant_Succeeds()
    {
        var result = Validate(new AuthOptions { Tenants = { ["acme"] = Tenant(Key, Key) }, AdminKeys = ["another-good-key-0123456789"] });

        Assert.True(result.Succeeded);
    }

    private static ValidateOptionsResult Validate(AuthOptions options) => new AuthOptionsValidator().Validate(null, options);

    private static TenantOptions Tenant(params string[] keys) => new() { ApiKeys = [.. keys] };
}
