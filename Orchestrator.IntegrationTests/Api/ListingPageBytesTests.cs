using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>GET /dead-letters</c> and <c>GET /jobs</c> pages are bounded in bytes as well as in items
/// (<c>Api:MaxDeadLetterPageBytes</c>, <c>Api:MaxJobsPageBytes</c>): a page stops before its items'
/// JSON would pass the bound, and <c>nextCursor</c> continues from there, so every job is still
/// listed exactly once. A jobs page had no such bound: 100 jobs of a megabyte each were one page of
/// 120 MB, held in the API's memory while a client that read nothing kept it (an outside audit).
/// </summary>
public sealed class ListingPageBytesTests(ListingPageBytesTests.SmallPagesApiFactory api)
    : IClassFixture<ListingPageBytesTests.SmallPagesApiFactory>, IAsyncLifetime
{
    /// <summary>Both bounds here: a few dead-lettered jobs of ~100-character prompts.</summary>
    public const int MaxPageBytes = 2048;

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Theory]
    [InlineData("/dead-letters?limit=500")]
    [InlineData("/jobs?limit=100")]
    public async Task List_ItemsLargerThanTheByteBound_PagesStopBeforeItAndListEveryJobOnce(string list)
    {
        using var client = api.CreateApiClient();
        var jobIds = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            var prompt = $"{i} " + new string('x', ApiFactory.MaxPromptLength - 2);
            using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json(JsonSerializer.Serialize(new { prompt })));
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            using var json = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            jobIds.Add(json.RootElement.GetProperty("jobId").GetString()!);
        }

        var worker = await TestWorker.StartAsync(api);
        foreach (var (lease, attempt) in await worker.StartAttemptsAsync(jobIds.Count))
        {
            await worker.FailAsync(lease, attempt);
        }

        var seen = new List<string>();
        var cutByBytes = 0;
        string? cursor = null;
        do
        {
            using var response = await ApiFactory.GetAsync(client, list + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            var items = page.RootElement.GetProperty("items").EnumerateArray().ToList();
            var itemBytes = items.Sum(i => Encoding.UTF8.GetByteCount(i.GetRawText()) + 1);
            Assert.True(items.Count == 1 || itemBytes <= MaxPageBytes, $"{items.Count} items of {itemBytes} bytes in one page.");
            seen.AddRange(items.Select(i => i.GetProperty("jobId").GetString()!));
            var next = page.RootElement.GetProperty("nextCursor");
            cursor = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
            cutByBytes += cursor is null ? 0 : 1;
            Assert.True(seen.Count <= jobIds.Count, "Paging listed more jobs than there are.");
        }
        while (cursor is not null);

        Assert.Equal(jobIds.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        // With a limit above the 9 jobs every cursor handed out was the byte bound's doing.
        Assert.True(cutByBytes >= 2, $"Only {cutByBytes} page(s) were cut by the byte bound.");
    }

    [Fact]
    public async Task Summaries_OfJobsWhoseJsonFillsAPage_AreOnePage_WithoutTheirPrompts_AndShareTheJobsCursors()
    {
        // The jobs page read GET /jobs every second for eight short columns: with long prompts and
        // answers a page was cut to a few rows by Api:MaxJobsPageBytes (an outside audit: 6 of 20 rows,
        // ~1 MB a second per open page).
        using var client = api.CreateApiClient();
        var jobIds = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            var prompt = $"{i} " + new string('x', ApiFactory.MaxPromptLength - 2);
            using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json(JsonSerializer.Serialize(new { prompt, model = "simulated-llm" })));
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            using var json = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            jobIds.Add(json.RootElement.GetProperty("jobId").GetString()!);
        }

        // Every job once either way, in the same order, in fewer pages of summaries than of jobs.
        var (jobs, jobPages) = await ListAllAsync(client, "/jobs?limit=100&status=queued");
        var (listed, summaryPages) = await ListAllAsync(client, "/jobs/summaries?limit=100&status=queued");
        Assert.Equal(jobIds.Order(StringComparer.Ordinal), jobs.Select(j => j.GetProperty("jobId").GetString()).Order(StringComparer.Ordinal));
        var order = jobs.Select(j => j.GetProperty("jobId").GetString()).ToList();
        Assert.Equal(order, listed.Select(i => i.GetProperty("jobId").GetString()));
        Assert.True(summaryPages < jobPages, $"{summaryPages} pages of summaries, {jobPages} of jobs");
        Assert.All(listed, i =>
        {
            Assert.False(i.TryGetProperty("prompt", out _));
            Assert.Equal(("queued", "simulated-llm", "normal", 0), (i.GetProperty("status").GetString(), i.GetProperty("model").GetString(),
                i.GetProperty("priority").GetString(), i.GetProperty("attempts").GetInt32()));
        });

        // A summaries page's cursor continues GET /jobs, and the other way round: one index, one cursor.
        using var first = await PageAsync(client, "/jobs/summaries?limit=4");
        var cursor = first.RootElement.GetProperty("nextCursor").GetString()!;
        using var fifth = await PageAsync(client, "/jobs?limit=1&cursor=" + Uri.EscapeDataString(cursor));
        Assert.Equal(order[4], fifth.RootElement.GetProperty("items")[0].GetProperty("jobId").GetString());
        var back = fifth.RootElement.GetProperty("nextCursor").GetString()!;
        using var sixth = await PageAsync(client, "/jobs/summaries?limit=1&cursor=" + Uri.EscapeDataString(back));
        Assert.Equal(order[5], sixth.RootElement.GetProperty("items")[0].GetProperty("jobId").GetString());

        using var refused = await ApiFactory.GetAsync(client, "/jobs/summaries?status=done");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
    }

    /// <summary>Every item of <paramref name="list"/>, page after page, and how many pages it took.</summary>
    private static async Task<(List<JsonElement> Items, int Pages)> ListAllAsync(HttpClient client, string list)
    {
        var items = new List<JsonElement>();
        var pages = 0;
        string? cursor = null;
        do
        {
            using var page = await PageAsync(client, list + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            items.AddRange(page.RootElement.GetProperty("items").EnumerateArray().Select(i => i.Clone()));
            var next = page.RootElement.GetProperty("nextCursor");
            cursor = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
            Assert.True(++pages <= 20, "Paging did not end.");
        }
        while (cursor is not null);

        return (items, pages);
    }

    private static async Task<JsonDocument> PageAsync(HttpClient client, string uri)
    {
        using var response = await ApiFactory.GetAsync(client, uri);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary><see cref="ApiFactory"/> with <c>Api:MaxDeadLetterPageBytes</c> and <c>Api:MaxJobsPageBytes</c> = <see cref="MaxPageBytes"/>.</summary>
    public sealed class SmallPagesApiFactory : ApiFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:MaxDeadLetterPageBytes", MaxPageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            builder.UseSetting("Api:MaxJobsPageBytes", MaxPageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
