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
