using System.Net;
using Microsoft.AspNetCore.Hosting;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>Api:ReadsPerSecondPerTenant</c>: a tenant reading faster than its rate gets 429
/// <c>quota-exceeded</c> with <c>Retry-After</c>, while another tenant's and an admin's reads, the
/// tenant's own submissions and <c>/health</c> are served; the tenant is served again once its
/// bucket refills.
/// </summary>
public sealed class TenantReadLimitTests(TenantReadLimitTests.TwoReadsPerSecondApiFactory api)
    : IClassFixture<TenantReadLimitTests.TwoReadsPerSecondApiFactory>, IAsyncLifetime
{
    private const int Reads = 12;

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task ReadsPastTheTenantsRate_Refused429_OthersAndWritesServed_ThenServedAgain()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        using var admin = api.CreateApiClient(TenantApiFactory.AdminKey);
        var jobId = await ApiFactory.SubmitPromptAsync(a, "read me");

        // Twelve reads at once: the bucket holds two, and refills one every half second.
        var answers = await Task.WhenAll(Enumerable.Range(0, Reads).Select(_ => ApiFactory.GetAsync(a, $"/jobs/{jobId}")));
        try
        {
            // Two at least (the bucket), and not all: a busy machine spreads the twelve over refills.
            Assert.InRange(answers.Count(r => r.StatusCode == HttpStatusCode.OK), 2, Reads - 1);
            var refused = answers.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
            Assert.Equal(Reads, answers.Count(r => r.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests));
            Assert.Equal(["1"], refused.Headers.GetValues("Retry-After"));
            using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.TooManyRequests);
            Assert.Equal("urn:orchestrator:problem:quota-exceeded", problem.RootElement.GetProperty("type").GetString());
            Assert.Equal("ReadsPerSecondPerTenant", problem.RootElement.GetProperty("quota").GetString());
            Assert.Equal(2, problem.RootElement.GetProperty("limit").GetInt32());
        }
        finally
        {
            foreach (var answer in answers)
            {
                answer.Dispose();
            }
        }

        // Meanwhile: the tenant's own submission, another tenant's reads, an admin's, the health check.
        await ApiFactory.SubmitPromptAsync(a, "read me");
        foreach (var (client, path) in new[] { (b, "/jobs"), (admin, $"/jobs/{jobId}"), (admin, $"/jobs/{jobId}"), (admin, $"/jobs/{jobId}"), (a, "/health") })
        {
            using var served = await ApiFactory.GetAsync(client, path);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        }

        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var again = await ApiFactory.GetAsync(a, $"/jobs/{jobId}");
            return again.StatusCode == HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(10), "tenant A is served again once its bucket refilled", TimeSpan.FromMilliseconds(200));
    }

    /// <summary>Tenants A and B and an admin, with <c>Api:ReadsPerSecondPerTenant</c> = 2.</summary>
    public sealed class TwoReadsPerSecondApiFactory : TenantApiFactory
    {
        /// <inheritdoc />
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:ReadsPerSecondPerTenant", "2");
        }
    }
}
