using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// <see cref="ApiFactory"/> with API keys required (<c>Auth:AllowAnonymous=false</c>): tenant
/// <see cref="TenantA"/> with a plain key, tenant <see cref="TenantB"/> configured by the key's
/// SHA-256 only (<c>sha256:&lt;hex&gt;</c>), and an admin key.
/// </summary>
public class TenantApiFactory : ApiFactory
{
    public const string TenantA = "tenant-a";
    public const string TenantB = "tenant-b";

    /// <summary>Tenant A's key, configured as itself.</summary>
    public const string KeyA = "key-of-tenant-a-0123456789";

    /// <summary>Tenant B's key, configured only as <c>sha256:&lt;hex&gt;</c>.</summary>
    public const string KeyB = "key-of-tenant-b-0123456789";

    /// <summary>An admin key (<c>Auth:AdminKeys</c>).</summary>
    public const string AdminKey = "key-of-the-admins-0123456789";

    /// <summary>The settings on top of <see cref="ApiFactory.Settings"/>.</summary>
    public static IReadOnlyDictionary<string, string> AuthSettings { get; } = new Dictionary<string, string>
    {
        ["Auth:AllowAnonymous"] = "false",
        ["Auth:AdminKeys:0"] = AdminKey,
        [$"Tenants:{TenantA}:ApiKeys:0"] = KeyA,
        [$"Tenants:{TenantB}:ApiKeys:0"] = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(KeyB))),
    };

    /// <summary>An <see cref="HttpClient"/> that sends <paramref name="key"/> as <c>Authorization: Bearer</c>.</summary>
    public HttpClient CreateApiClient(string key)
    {
        var client = CreateApiClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <inheritdoc />
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        foreach (var (key, value) in AuthSettings)
        {
            builder.UseSetting(key, value);
        }
    }
}
