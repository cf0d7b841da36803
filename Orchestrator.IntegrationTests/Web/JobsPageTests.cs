using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace Orchestrator.IntegrationTests.Web;

/// <summary>
/// Issue 19's browser tests: the jobs page in a real chromium over a real API, worker and Redis.
/// A job submitted through the API appears on the page and completes there without a reload; a
/// dead letter is redriven from the page; a job is cancelled from the page. Filters take effect on
/// Apply; a filter the API refuses clears the rows and says why; the page has an icon; a job's page
/// marks bidirectional controls in its texts and says when the answer was cut at a limit.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class JobsPageTests(JobsPageFixture system) : IClassFixture<JobsPageFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("localhost", HttpStatusCode.OK)]
    [InlineData("127.0.0.1", HttpStatusCode.OK)]
    // A page elsewhere whose name was rebound to this address (DNS rebinding) sends its own name.
    [InlineData("rebind.attacker.example", HttpStatusCode.BadRequest)]
    public async Task Page_ServedUnderLoopbackNamesOnly(string host, HttpStatusCode expected)
    {
        using var client = new HttpClient { BaseAddress = system.WebAddress, Timeout = Patience };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = $"{host}:{system.WebAddress.Port}";

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task SubmittedJob_AppearsAndCompletesLive()
    {
        var page = await OpenAsync("/");

        var jobId = await SubmitAsync(new { prompt = "Explain leases in one line." });

        var row = page.GetByTestId($"job-{jobId}");
        await Assertions.Expect(row).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(row).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = (float)Patience.TotalMilliseconds });
        // A count, not a substring: "10" completed jobs also contain a "0".
        await Assertions.Expect(page.GetByTestId("count-completed").Locator(".value")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9][0-9]*$"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(system.ScreenshotFolder, "jobs-page.png"), FullPage = true });

        await row.GetByRole(AriaRole.Link).ClickAsync();
        await Assertions.Expect(page.GetByTestId("job")).ToHaveAttributeAsync("data-status", "completed");
        await Assertions.Expect(page.GetByTestId("result")).Not.ToBeEmptyAsync();
        await Assertions.Expect(page.GetByTestId("trace")).ToHaveAttributeAsync("href", new System.Text.RegularExpressions.Regex("/traces/detail/[0-9a-f]{32}$"));
        await page.ScreenshotAsync(new() { Path = Path.Combine(system.ScreenshotFolder, "job-detail.png"), FullPage = true });
    }

    [Fact]
    public async Task JobDetail_MarksBidiControls_AndAnAnswerCutAtTheTokenLimit()
    {
        // A right-to-left override would show the rest of the prompt backwards ("txet desrever").
        var jobId = await SubmitAsync(new { prompt = "Check this: \u202Ereversed text", maxTokens = 3 });
        await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "completed");

        var page = await OpenAsync($"/jobs/{jobId}");
        await Assertions.Expect(page.GetByTestId("prompt")).ToHaveTextAsync("Check this: ⟨U+202E⟩reversed text", new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByTestId("finish-reason")).ToContainTextAsync("Cut short: the answer reached a limit");
    }

    [Fact]
    public async Task JobDetail_ShowsTheAnswerAsItStreams_ThenTheResult()
    {
        // The first token 1.5 s after the call starts (the page is open by then), then some 40 tokens at 10 a second.
        var jobId = await SubmitAsync(new
        {
            prompt = "Stream it to me.",
            metadata = new Dictionary<string, string> { ["simulator.latencyMs"] = "1500", ["simulator.tokensPerSecond"] = "10" },
        });
        await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "processing");

        var page = await OpenAsync($"/jobs/{jobId}");
        var live = page.GetByTestId("live");
        await Assertions.Expect(live).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("\\S"), new() { Timeout = (float)Patience.TotalMilliseconds });
        var partial = await live.TextContentAsync();
        await Assertions.Expect(page.GetByTestId("job")).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = (float)Patience.TotalMilliseconds });

        await Assertions.Expect(live).ToHaveCountAsync(0);
        var result = await page.GetByTestId("result").TextContentAsync();
        // What streamed is the answer's beginning, shown before the answer was whole.
        Assert.StartsWith(partial!, result, StringComparison.Ordinal);
        Assert.True(partial!.Length < result!.Length, $"'{partial}' was the whole answer");
    }

    [Fact]
    public async Task DeadLetter_RedrivenFromThePage_RunsAgainWithItsHistoryKept()
    {
        var jobId = await SubmitAsync(new { prompt = "fail for good", metadata = new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" } });
        var failed = await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "failed");
        var attemptsBefore = failed["history"]!.AsArray().Count;

        var page = await OpenAsync("/dead-letters");
        var redrive = page.GetByTestId($"redrive-{jobId}");
        await Assertions.Expect(redrive).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await page.ScreenshotAsync(new() { Path = Path.Combine(system.ScreenshotFolder, "dead-letters.png"), FullPage = true });
        await redrive.ClickAsync();
        await Assertions.Expect(page.GetByTestId("notice")).ToContainTextAsync(jobId);

        // Redriven: it ran again (it fails again, by its metadata), with the first run's attempts kept before the new ones.
        var again = await WaitForAsync(jobId, job => job["history"]!.AsArray().Count > attemptsBefore && job["status"]!.GetValue<string>() == "failed");
        Assert.Equal(failed["history"]![0]!["startedAt"]!.ToJsonString(), again["history"]![0]!["startedAt"]!.ToJsonString());
    }

    [Fact]
    public async Task Job_CanceledFromThePage_EndsCanceled()
    {
        var jobId = await SubmitAsync(new { prompt = "a long one", metadata = new Dictionary<string, string> { ["simulator.latencyMs"] = "60000" } });
        await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "processing");

        var page = await OpenAsync($"/jobs/{jobId}");
        await page.GetByTestId("cancel").ClickAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByTestId("notice")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        // Says what the answer said: canceled (200), or recorded while the worker ends the call (202).
        await Assertions.Expect(page.GetByTestId("notice")).ToHaveTextAsync(
            new System.Text.RegularExpressions.Regex($"^(Job {jobId} canceled\\.|Cancel of job {jobId} recorded: .*)$"));

        var canceled = await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "canceled");
        await Assertions.Expect(page.GetByTestId("job")).ToHaveAttributeAsync("data-status", "canceled", new() { Timeout = (float)Patience.TotalMilliseconds });
        Assert.Equal(1, canceled["attempts"]!.GetValue<int>());
    }

    [Fact]
    public async Task StatusFilter_TakesEffectOnApply_NotAtTheNextRefresh()
    {
        var first = await SubmitAsync(new { prompt = "Shown until Apply." });
        var page = await OpenAsync("/");
        await Assertions.Expect(page.GetByTestId($"job-{first}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });

        await page.GetByTestId("filter-status").SelectOptionAsync("failed");
        // The page refreshes live: a job submitted now shows only if the list is still unfiltered.
        var second = await SubmitAsync(new { prompt = "Shown by a refresh after the status was chosen." });
        await Assertions.Expect(page.GetByTestId($"job-{second}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByTestId($"job-{first}")).ToBeVisibleAsync();

        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(page.GetByTestId($"job-{first}")).ToBeHiddenAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByTestId($"job-{second}")).ToBeHiddenAsync();
        await Assertions.Expect(page.GetByTestId("count-failed")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("selected"));
    }

    [Fact]
    public async Task FilterTheApiRefuses_ClearsTheRowsAndShowsWhy()
    {
        var jobId = await SubmitAsync(new { prompt = "A row of the filter before." });
        var page = await OpenAsync("/");
        await Assertions.Expect(page.GetByTestId($"job-{jobId}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });

        await page.GetByTestId("filter-tenant").FillAsync("Not A Tenant");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();

        await Assertions.Expect(page.GetByTestId("problem")).ToContainTextAsync("tenant", new() { Timeout = (float)Patience.TotalMilliseconds });
        // The rows of the filter before would read as the answer to this one.
        await Assertions.Expect(page.GetByTestId("jobs").Locator("tbody tr")).ToHaveCountAsync(0);
        // Nor do its counts read as zero jobs: they are unknown.
        await Assertions.Expect(page.GetByTestId("count-queued")).ToContainTextAsync("–");
        await Assertions.Expect(page.GetByTestId("counts")).Not.ToContainTextAsync("of the newest");
    }

    [Fact]
    public async Task JobDetail_OfAnIdNamingAnotherPathOfTheApi_IsNoSuchJob()
    {
        // GET /jobs/counts answers the counts, not a job: the page once read them as one and died.
        var page = await OpenAsync("/jobs/counts");

        await Assertions.Expect(page.GetByTestId("missing")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
    }

    [Fact]
    public async Task Page_DeclaresAnIcon_AndNoRequestOfItFails()
    {
        var failed = new List<string>();
        var page = await OpenAsync("/", failed);

        var icon = page.Locator("link[rel=icon]");
        await Assertions.Expect(icon).ToHaveCountAsync(1);
        var href = await icon.GetAttributeAsync("href");
        var response = await page.APIRequest.GetAsync(new Uri(system.WebAddress, href).ToString());
        Assert.Equal(200, response.Status);
        Assert.StartsWith("image/svg+xml", response.Headers["content-type"], StringComparison.Ordinal);
        await Assertions.Expect(page.GetByTestId("counts")).ToBeVisibleAsync();
        Assert.Empty(failed);
    }

    [Fact]
    public async Task HungApi_ThePageSaysSo_CountsUnknown_AndUpdatesAgainWhenItAnswers()
    {
        // An outside audit paused the API 30 s: the client's timeout escaped the page's refresh, which
        // ended for good without a word; a page opened meanwhile stayed blank.
        var page = await OpenAsync("/");
        await Assertions.Expect(page.GetByTestId("counts")).ToContainTextAsync("of the newest", new() { Timeout = (float)Patience.TotalMilliseconds });

        Assert.True(Signals.Send(system.Api.Pid, Signals.Stop));
        IPage opened;
        try
        {
            await Assertions.Expect(page.GetByTestId("problem")).ToContainTextAsync("did not answer", new() { Timeout = (float)Patience.TotalMilliseconds });
            await Assertions.Expect(page.GetByTestId("count-completed")).ToContainTextAsync("–");
            opened = await OpenAsync("/");
            await Assertions.Expect(opened.GetByTestId("problem")).ToContainTextAsync("did not answer", new() { Timeout = (float)Patience.TotalMilliseconds });
        }
        finally
        {
            Signals.Send(system.Api.Pid, Signals.Continue);
        }

        var jobId = await SubmitAsync(new { prompt = "Shown once the API answers again." });
        foreach (var live in (IPage[])[page, opened])
        {
            await Assertions.Expect(live.GetByTestId($"job-{jobId}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
            await Assertions.Expect(live.GetByTestId("problem")).ToBeHiddenAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
            await Assertions.Expect(live.GetByTestId("page-ended")).ToBeHiddenAsync();
        }
    }

    [Fact]
    public async Task FilterInTheAddress_FindsMatchesOlderThanOneRead_AndIsKeptByAReload()
    {
        // One read of GET /jobs examines at most 1,000 jobs: the page said "No jobs match." over a
        // filter whose jobs were one Next page away (an outside audit), and kept its filters nowhere.
        var failed = await SubmitAsync(new { prompt = "older than a thousand others", metadata = new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" } });
        await WaitForAsync(failed, job => job["status"]!.GetValue<string>() == "failed");
        using (var client = system.TenantClient())
        {
            await Parallel.ForAsync(0, 1_050, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = TestContext.Current.CancellationToken }, async (i, ct) =>
            {
                using var response = await client.PostAsJsonAsync("/jobs", new { prompt = $"newer {i}" }, ct);
                Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            });
        }

        var page = await OpenAsync("/?status=failed");
        await Assertions.Expect(page.GetByTestId($"job-{failed}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByTestId("filter-status")).ToHaveValueAsync("failed");
        await Assertions.Expect(page.GetByTestId("count-failed")).ToHaveAttributeAsync("aria-pressed", "true");

        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId($"job-{failed}")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        Assert.EndsWith("?status=failed", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NextPage_IsInTheAddress_KeptByAReload_UntilFirstPage()
    {
        // A reload went back to the newest jobs: the cursor was kept by the page alone (an outside audit).
        for (var i = 0; i < 25; i++)
        {
            await SubmitAsync(new { prompt = $"paged {i}" });
        }

        await AssertNextPageKeptByAReloadAsync("/", "job-");
    }

    [Fact]
    public async Task DeadLettersNextPage_IsInTheAddress_KeptByAReload_UntilFirstPage()
    {
        var jobIds = new List<string>();
        for (var i = 0; i < 21; i++)
        {
            jobIds.Add(await SubmitAsync(new { prompt = $"dead {i}", metadata = new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" } }));
        }

        foreach (var jobId in jobIds)
        {
            await WaitForAsync(jobId, job => job["status"]!.GetValue<string>() == "failed");
        }

        await AssertNextPageKeptByAReloadAsync("/dead-letters", "dead-");
    }

    [Fact]
    public async Task StatusInTheAddressTheApiRefuses_IsShownInTheFilter_BesideTheRefusal()
    {
        var page = await OpenAsync("/?status=bogus");

        await Assertions.Expect(page.GetByTestId("problem")).ToContainTextAsync("status", new() { Timeout = (float)Patience.TotalMilliseconds });
        // Not "any" (as the select read when its value was none of its options): the cause is in sight.
        await Assertions.Expect(page.GetByTestId("filter-status")).ToHaveValueAsync("bogus");
    }

    [Fact]
    public async Task UnknownAddress_IsA404WithThePagesOwnNotFound()
    {
        using var client = new HttpClient { BaseAddress = system.WebAddress, Timeout = Patience };
        using var response = await client.GetAsync("/no/such/page", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);

        var page = await system.Browser.NewPageAsync();
        await page.GotoAsync(new Uri(system.WebAddress, "/no/such/page").ToString());
        await Assertions.Expect(page.GetByTestId("not-found")).ToBeVisibleAsync(new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Back to the jobs." })).ToHaveAttributeAsync("href", "/");
    }

    [Fact]
    public async Task Page_SendsAPolicyThatAllowsOnlyItsOwnScripts_AndItsScriptsRunUnderIt()
    {
        var errors = new List<string>();
        var page = await system.Browser.NewPageAsync();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (errors)
                {
                    errors.Add(message.Text);
                }
            }
        };

        var response = await page.GotoAsync(system.WebAddress.ToString());
        var headers = await response!.AllHeadersAsync();
        Assert.Contains("script-src 'self'", headers["content-security-policy"], StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'self'", headers["content-security-policy"], StringComparison.Ordinal);
        Assert.Equal("nosniff", headers["x-content-type-options"]);
        // Live under the policy: the circuit is up and the counts are read (no script or connection refused).
        await Assertions.Expect(page.GetByTestId("counts")).ToContainTextAsync("of the newest", new() { Timeout = (float)Patience.TotalMilliseconds });
        Assert.Empty(errors);
    }

    private async Task<IPage> OpenAsync(string path, List<string>? failedRequests = null)
    {
        var page = await system.Browser.NewPageAsync(new() { ViewportSize = new() { Width = 1280, Height = 800 } });
        if (failedRequests is not null)
        {
            page.Response += (_, response) =>
            {
                if (response.Status >= 400)
                {
                    lock (failedRequests)
                    {
                        failedRequests.Add($"{response.Status} {response.Url}");
                    }
                }
            };
            page.RequestFailed += (_, request) =>
            {
                lock (failedRequests)
                {
                    failedRequests.Add($"failed {request.Url}");
                }
            };
        }

        var response = await page.GotoAsync(new Uri(system.WebAddress, path).ToString());
        Assert.True(response is { Ok: true }, $"GET {path} answered {response?.Status}:{Environment.NewLine}{system.WebOutput}");
        // Interactive once the circuit is up: the live refresh and the buttons work from then on.
        await page.WaitForFunctionAsync("() => window.Blazor !== undefined");
        return page;
    }

    /// <summary>
    /// On the page at <paramref name="path"/> (more than 20 rows, each <c>data-testid</c> starting with
    /// <paramref name="rowPrefix"/>): Next page puts its cursor in the address, a reload shows the same
    /// rows, and First page goes back to the newest and leaves the cursor.
    /// </summary>
    private async Task AssertNextPageKeptByAReloadAsync(string path, string rowPrefix)
    {
        var wait = new LocatorAssertionsToHaveAttributeOptions { Timeout = (float)Patience.TotalMilliseconds };
        var page = await OpenAsync(path);
        var rows = page.Locator($"tbody tr[data-testid^='{rowPrefix}']");
        await Assertions.Expect(rows).ToHaveCountAsync(20, new() { Timeout = (float)Patience.TotalMilliseconds });
        var newest = (await rows.First.GetAttributeAsync("data-testid"))!;

        await page.GetByTestId("next-page").ClickAsync();
        // Polled: Blazor changes the address in place (pushState), which WaitForURL's wait for "load" missed at times.
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("[?&]cursor=[^&]+"), new() { Timeout = (float)Patience.TotalMilliseconds });
        await Assertions.Expect(rows.First).Not.ToHaveAttributeAsync("data-testid", newest, wait);
        var older = await rows.EvaluateAllAsync<string[]>("rows => rows.map(row => row.dataset.testid)");
        Assert.DoesNotContain(newest, older);

        await page.ReloadAsync();
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-testid", older[0], wait);
        Assert.Equal(older, await rows.EvaluateAllAsync<string[]>("rows => rows.map(row => row.dataset.testid)"));

        await page.GetByTestId("first-page").ClickAsync();
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-testid", newest, wait);
        Assert.DoesNotContain("cursor=", page.Url, StringComparison.Ordinal);
    }

    private async Task<string> SubmitAsync(object body)
    {
        using var client = system.TenantClient();
        using var response = await client.PostAsJsonAsync("/jobs", body, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["jobId"]!.GetValue<string>();
    }

    private async Task<JsonNode> WaitForAsync(string jobId, Func<JsonNode, bool> condition)
    {
        using var client = system.TenantClient();
        JsonNode? job = null;
        await AsyncWait.WaitUntilAsync(async () =>
        {
            job = JsonNode.Parse(await client.GetStringAsync($"/jobs/{jobId}", TestContext.Current.CancellationToken))!;
            return condition(job);
        }, Patience, $"job {jobId} reaches the expected state", TimeSpan.FromMilliseconds(100));
        return job!;
    }
}
