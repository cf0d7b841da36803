using System.Net;
using Microsoft.AspNetCore.Hosting;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>Api:MaxConcurrentWaitsPerTenant</c>: one tenant's waits (<c>?wait=</c>, <c>/events</c>) cannot
/// take every place of <c>Api:MaxConcurrentWaits</c>. Past its share a tenant's wait gets 429
/// <c>quota-exceeded</c>; another tenant's, and an admin's, still wait; the place comes back when
/// the tenant's wait ends.
/// </summary>
public sealed class TenantWaitLimitTests(TenantWaitLimitTests.OneWaitPerTenantApiFactory api)
    : IClassFixture<TenantWaitLimitTests.OneWaitPerTenantApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Waits_PastTheTenantsShare_Refused429_OtherTenantsAndAdminsStillWait()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        using var admin = api.CreateApiClient(TenantApiFactory.AdminKey);
        // No worker runs: the jobs stay queued, so every wait on them waits.
        var held = await ApiFactory.SubmitPromptAsync(a, "held");
        var other = await ApiFactory.SubmitPromptAsync(a, "other");
        var theirs = await ApiFactory.SubmitPromptAsync(b, "theirs");

        using (var holder = await SseReader.OpenAsync(a, held, lastEventId: null))
        {
            using (var refused = await ApiFactory.GetAsync(a, $"/jobs/{other}?wait=5"))
            {
                Assert.Equal(["1"], refused.Headers.GetValues("Retry-After"));
                using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.TooManyRequests);
                Assert.Equal("urn:orchestrator:problem:quota-exceeded", problem.RootElement.GetProperty("type").GetString());
                Assert.Equal("MaxConcurrentWaitsPerTenant", problem.RootElement.GetProperty("quota").GetString());
                Assert.Equal(1, problem.RootElement.GetProperty("limit").GetInt32());
                Assert.Contains(TenantApiFactory.TenantA, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }

            using (var refusedStream = await ApiFactory.GetAsync(a, $"/jobs/{other}/events"))
            {
                await ProblemAssert.IsProblemNamingAsync(refusedStream, HttpStatusCode.TooManyRequests, "MaxConcurrentWaitsPerTenant");
            }

            // Without wait the job is read as always.
            using (var read = await ApiFactory.GetAsync(a, $"/jobs/{other}"))
            {
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
            }

            using (var otherTenant = await ApiFactory.GetAsync(b, $"/jobs/{theirs}?wait=1"))
            {
                Assert.Equal(HttpStatusCode.OK, otherTenant.StatusCode);
            }

            using (var admins = await ApiFactory.GetAsync(admin, $"/jobs/{other}?wait=1"))
            {
                Assert.Equal(HttpStatusCode.OK, admins.StatusCode);
            }
        }

        // The stream closed: its place is the tenant's again once the server has ended it.
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var waited = await ApiFactory.GetAsync(a, $"/jobs/{other}?wait=1");
            return waited.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(15), "tenant A's wait is served again after its stream closed");
    }

    /// <summary>Tenants A and B and an admin, with <c>Api:MaxConcurrentWaitsPerTenant</c> = 1.</summary>
    public sealed class OneWaitPerTenantApiFactory : TenantApiFactory
    {
        /// <inheritdoc />
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:MaxConcurrentWaitsPerTenant", "1");
        }
    }
}
