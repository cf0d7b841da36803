using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>GET /jobs</c> and <c>GET /jobs/counts</c> (the jobs page's reads): newest first, scoped to the
/// caller's tenant (an admin sees all, or one tenant), filtered, paged by cursor; bad parameters are
/// 400 problems (a <c>limit</c> of any shape, on <c>GET /dead-letters</c> too, names its range) and
/// another tenant's listing is 403.
/// </summary>
public sealed class ListJobsApiTests(TenantApiFactory api) : IClassFixture<TenantApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task List_ScopedFilteredAndPaged_NewestFirst()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        using var admin = api.CreateApiClient(TenantApiFactory.AdminKey);
        var jobsOfA = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            jobsOfA.Add(await SubmitAsync(a, $"prompt {i}"));
        }

        var jobOfB = await SubmitAsync(b, "B's prompt");

        // Newest first (jobs created in the same millisecond come in id order, so compare the order of times).
        var listed = await GetJsonAsync(a, "/jobs");
        var created = listed["items"]!.AsArray().Select(job => job!["createdAt"]!.GetValue<DateTime>()).ToList();
        Assert.Equal(created.OrderDescending(), created);
        Assert.Equal(jobsOfA.Order(), Ids(listed).Order());
        var order = Ids(listed);
        Assert.Equal([jobOfB], await IdsAsync(b, "/jobs"));
        Assert.Equal(new List<string>([.. jobsOfA, jobOfB]).Order(), (await IdsAsync(admin, "/jobs")).Order());
        Assert.Equal(order, await IdsAsync(admin, $"/jobs?tenant={TenantApiFactory.TenantA}"));
        Assert.Equal(order, await IdsAsync(a, "/jobs?status=queued"));
        Assert.Empty(await IdsAsync(a, "/jobs?status=completed"));
        Assert.Empty(await IdsAsync(a, "/jobs?model=no-such-model"));

        // Two at a time: the cursor continues where the page ended, and the last page has none.
        var first = await GetJsonAsync(a, "/jobs?limit=2");
        var cursor = first["nextCursor"]!.GetValue<string>();
        var second = await GetJsonAsync(a, $"/jobs?limit=2&cursor={Uri.EscapeDataString(cursor)}");
        Assert.Equal(order, [.. Ids(first), .. Ids(second)]);
        Assert.Null(second["nextCursor"]);

        var counts = await GetJsonAsync(a, "/jobs/counts");
        Assert.Equal(3, counts["byStatus"]!["queued"]!.GetValue<long>());
        Assert.Equal(3, counts["counted"]!.GetValue<long>());
        var all = await GetJsonAsync(admin, "/jobs/counts");
        Assert.Equal(4, all["counted"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("/jobs?limit=0", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?limit=101", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?cursor=not-a-cursor", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?status=Not%20A%20Status", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?status=bogus", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?status=Completed", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?tenant=Bad%20Tenant", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?tenant=tenant-b", HttpStatusCode.Forbidden)]
    [InlineData("/jobs/counts?tenant=tenant-b", HttpStatusCode.Forbidden)]
    public async Task List_BadParameters_AnswerProblems(string path, HttpStatusCode expected)
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);

        using var response = await ApiFactory.GetAsync(a, path);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>
    /// A limit that is no integer got the framework's own 400: 'Failed to bind parameter
    /// "Nullable&lt;int&gt; limit"' in Development, no detail at all otherwise. Now whatever is sent,
    /// the answer is an out-of-range value's: the parameter and its range.
    /// </summary>
    [Theory]
    [InlineData("/jobs", 100, "abc")]
    [InlineData("/jobs", 100, "1.5")]
    [InlineData("/jobs", 100, "")]
    [InlineData("/jobs", 100, "99999999999999")]
    [InlineData("/jobs", 100, "1&limit=2")]
    [InlineData("/jobs", 100, "0")]
    [InlineData("/jobs", 100, "true")]
    [InlineData("/dead-letters", 500, "abc")]
    [InlineData("/dead-letters", 500, "1.5")]
    [InlineData("/dead-letters", 500, "")]
    [InlineData("/dead-letters", 500, "99999999999999")]
    [InlineData("/dead-letters", 500, "1&limit=2")]
    [InlineData("/dead-letters", 500, "501")]
    [InlineData("/dead-letters", 500, "%EF%BC%91")]
    // Digits only: a sign or a space was read as the number the framework's own int binding reads.
    [InlineData("/jobs", 100, "%2B5")]
    [InlineData("/jobs", 100, "%205")]
    [InlineData("/dead-letters", 500, "5%20")]
    [InlineData("/dead-letters", 500, "-0")]
    public async Task List_LimitNotAnIntegerInRange_AnswersInvalidLimitWithItsRange(string path, int max, string limit)
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);

        using var response = await ApiFactory.GetAsync(a, $"{path}?limit={limit}");

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("Invalid limit", problem.RootElement.GetProperty("title").GetString());
        Assert.Equal($"limit must be from 1 to {max}.", problem.RootElement.GetProperty("detail").GetString());
    }

    // Two models were read as one joined by a comma: an empty last page, where the other parameters
    // are a 400. And ?status=failed on the counts answered every status's count, as if filtered.
    [Theory]
    [InlineData("/jobs?model=m&model=m", "Invalid model")]
    [InlineData("/jobs/counts?status=failed", "Invalid status")]
    [InlineData("/jobs/counts?model=m", "Invalid model")]
    [InlineData("/jobs/counts?limit=5", "Invalid limit")]
    [InlineData("/jobs/counts?Cursor=x", "Invalid cursor")]
    public async Task Listing_AQueryItDoesNotTake_Answers400NamingIt(string path, string title)
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);

        using var response = await ApiFactory.GetAsync(a, path);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(title, problem.RootElement.GetProperty("title").GetString());
    }

    private static async Task<string> SubmitAsync(HttpClient client, string prompt)
    {
        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(JsonSerializer.Serialize(new { prompt })));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["jobId"]!.GetValue<string>();
    }

    private static async Task<JsonNode> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await ApiFactory.GetAsync(client, path);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        return JsonNode.Parse(body)!;
    }

    private static async Task<List<string>> IdsAsync(HttpClient client, string path) => Ids(await GetJsonAsync(client, path));

    private static List<string> Ids(JsonNode page) => [.. page["items"]!.AsArray().Select(job => job!["jobId"]!.GetValue<string>())];
}
