using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>Api:MaxAttemptsInAll</c>: each run of a redriven job adds to its history and events, kept with
/// the job, so a job redriven again and again grew them without end. At the bound a redrive is a
/// <c>409</c> naming it and the filtered redrive passes the job by; either way it stays a dead letter.
/// </summary>
public sealed class RedriveAttemptsBoundTests(RedriveAttemptsBoundTests.BoundedApiFactory api)
    : IClassFixture<RedriveAttemptsBoundTests.BoundedApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task JobAtTheBound_Redrive409NamingIt_FilteredRedrivePassesItBy_ItStaysADeadLetter()
    {
        using var client = api.CreateApiClient();
        var worker = await TestWorker.StartAsync(api);
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"fails every time"}"""));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = JsonDocument.Parse(await ReadAsync(submitted)).RootElement.GetProperty("jobId").GetString()!;

        // One attempt per run (a permanent failure); redriven until it has run the bound's attempts.
        for (var run = 1; run <= BoundedApiFactory.MaxAttemptsInAll; run++)
        {
            var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
            Assert.Equal(run, attempt);
            await worker.FailAsync(lease, attempt);
            if (run < BoundedApiFactory.MaxAttemptsInAll)
            {
                using var redriven = await PostAsync(client, $"/dead-letters/{jobId}/redrive", body: null);
                Assert.Equal(HttpStatusCode.OK, redriven.StatusCode);
            }
        }

        using (var refused = await PostAsync(client, $"/dead-letters/{jobId}/redrive", body: null))
        {
            using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.Conflict);
            Assert.Equal("Attempts spent", problem.RootElement.GetProperty("title").GetString());
            Assert.Contains("Api:MaxAttemptsInAll", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var filtered = await PostAsync(client, "/dead-letters/redrive", body: "{}"))
        {
            Assert.Equal(HttpStatusCode.OK, filtered.StatusCode);
            using var result = JsonDocument.Parse(await ReadAsync(filtered));
            Assert.Equal(0, result.RootElement.GetProperty("redriven").GetInt32());
            Assert.False(result.RootElement.GetProperty("more").GetBoolean());
        }

        using var job = JsonDocument.Parse(await ReadAsync(await ApiFactory.GetAsync(client, $"/jobs/{jobId}")));
        Assert.Equal("failed", job.RootElement.GetProperty("status").GetString());
        Assert.Equal(BoundedApiFactory.MaxAttemptsInAll, job.RootElement.GetProperty("history").GetArrayLength());
        using var deadLetters = JsonDocument.Parse(await ReadAsync(await ApiFactory.GetAsync(client, "/dead-letters")));
        Assert.Equal(jobId, Assert.Single(deadLetters.RootElement.GetProperty("items").EnumerateArray()).GetProperty("jobId").GetString());
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string? body) =>
        client.PostAsync(path, body is null ? null : ApiFactory.Json(body), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    private static Task<string> ReadAsync(HttpResponseMessage response) =>
        response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    /// <summary>The API with a bound of 3 attempts in all.</summary>
    public sealed class BoundedApiFactory : ApiFactory
    {
        /// <summary>The bound as configured here.</summary>
        public const int MaxAttemptsInAll = 3;

        /// <inheritdoc />
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:MaxAttemptsInAll", MaxAttemptsInAll.ToString(CultureInfo.InvariantCulture));
        }
    }
}
