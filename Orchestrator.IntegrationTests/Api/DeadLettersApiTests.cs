using System.Net;
using System.Text;
using System.Text.Json;
using Orchestrator.Jobs;
using Orchestrator.IntegrationTests.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>GET /dead-letters</c>: newest first, keyset paging that returns every job exactly once, and
/// 400 (never 500) for a bad <c>limit</c> or <c>cursor</c>; <c>POST /dead-letters/redrive</c>'s 415, and its 400 for a blank
/// <c>errorType</c>, a member it does not know or a time without its UTC offset. Jobs are dead-lettered through the
/// store's real worker-side API (read → claim → start attempt → fail), not by writing keys.
/// </summary>
public sealed class DeadLettersApiTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task List_NoDeadLetters_Returns200EmptyPage()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/dead-letters");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = JsonDocument.Parse(await ReadAsync(response));
        Assert.Equal(0, page.RootElement.GetProperty("items").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, page.RootElement.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task List_DeadLetteredJobs_NewestFirstWithTheFailedJobResource()
    {
        using var client = api.CreateApiClient();
        var jobIds = await SubmitAsync(client, 3);

        // At least one millisecond apart, in submission order: the last one failed is the newest.
        var failedOrder = await DeadLetterAsync(jobIds, sameInstantGroupSize: 1);

        using var response = await ApiFactory.GetAsync(client, "/dead-letters");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = JsonDocument.Parse(await ReadAsync(response));
        var items = page.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(failedOrder.AsEnumerable().Reverse(), items.Select(i => i.GetProperty("jobId").GetString()));
        Assert.Equal(JsonValueKind.Null, page.RootElement.GetProperty("nextCursor").ValueKind);
        Assert.All(items, item =>
        {
            Assert.Equal("failed", item.GetProperty("status").GetString());
            Assert.Equal(1, item.GetProperty("attempts").GetInt32());
            Assert.Equal(AttemptOutcome.PermanentFailure, item.GetProperty("error").GetProperty("type").GetString());
            Assert.NotEqual(JsonValueKind.Null, item.GetProperty("completedAt").ValueKind);
            var attempt = Assert.Single(item.GetProperty("history").EnumerateArray());
            Assert.Equal(AttemptOutcome.PermanentFailure, attempt.GetProperty("outcome").GetString());
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(11)]
    [InlineData(12)]
    public async Task List_PagedWithLimitAndCursor_ReturnsEveryJobExactlyOnceNewestFirst(int limit)
    {
        using var client = api.CreateApiClient();
        var jobIds = await SubmitAsync(client, 11);

        // Groups of three fail at the same instant: paging must also split ties on the score.
        await DeadLetterAsync(jobIds, sameInstantGroupSize: 3);
        var expected = await ExpectedNewestFirstAsync();
        Assert.Equal(jobIds.Order(StringComparer.Ordinal), expected.Order(StringComparer.Ordinal));

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var path = $"/dead-letters?limit={limit}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await ApiFactory.GetAsync(client, path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var page = JsonDocument.Parse(await ReadAsync(response));
            var items = page.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("jobId").GetString()!).ToList();
            Assert.InRange(items.Count, 1, limit);
            seen.AddRange(items);
            var next = page.RootElement.GetProperty("nextCursor");
            cursor = next.ValueKind == JsonValueKind.Null ? null : next.GetString();
            pages++;
            Assert.True(pages <= jobIds.Count, "Paging did not end.");
        }
        while (cursor is not null);

        Assert.Equal(expected, seen);
        Assert.Equal((jobIds.Count + limit - 1) / limit, pages);
    }

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=-1")]
    [InlineData("limit=501")]
    [InlineData("limit=x")]
    [InlineData("limit=1.5")]
    [InlineData("limit=99999999999")]
    [InlineData("cursor=x")]
    [InlineData("cursor=%21%21%21")]
    [InlineData("cursor=")]
    [InlineData("limit=10&cursor=bm90LWEtY3Vyc29y")]
    public async Task List_BadLimitOrCursor_Returns400Problem(string query)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/dead-letters?" + query);

        var mention = query.StartsWith("limit=", StringComparison.Ordinal) && !query.Contains("cursor", StringComparison.Ordinal) ? "limit" : "cursor";
        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, mention);
    }

    [Theory]
    [InlineData("1:short")]
    [InlineData("-5:AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("abc:AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData(":AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("1AAAAAAAAAAAAAAAAAAAAAA")]
    public async Task List_CursorWellEncodedButMalformedInside_Returns400Problem(string inside)
    {
        using var client = api.CreateApiClient();
        var cursor = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(inside));

        using var response = await ApiFactory.GetAsync(client, "/dead-letters?cursor=" + cursor);

        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, "cursor");
    }

    [Fact]
    public async Task List_VeryLongCursor_Returns400Problem()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/dead-letters?cursor=" + new string('A', 4000));

        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, "cursor");
    }

    [Fact]
    public async Task Redrive_BodyNotJson_Returns415ProblemSayingWhatToSend()
    {
        using var client = api.CreateApiClient();

        using var response = await client.PostAsync("/dead-letters/redrive", new StringContent("{}", Encoding.UTF8, "text/plain"), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        // Routing answers it; the detail fits this endpoint too (it once said "Send the job as JSON").
        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("Send the request body as JSON with 'Content-Type: application/json'.", problem.RootElement.GetProperty("detail").GetString());
    }

    /// <summary>Said as POST /jobs says it: the serializer's refusal named the member it stopped in ("errorType must be a string").</summary>
    [Fact]
    public async Task Redrive_BodyNotUtf8_Returns400SayingSo()
    {
        using var client = api.CreateApiClient();
        var body = new ByteArrayContent([.. "{\"errorType\":\""u8, 0xFF, 0xFE, .. "\"}"u8]);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await client.PostAsync("/dead-letters/redrive", body, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal("The request body is not valid UTF-8.", problem.RootElement.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task Redrive_BlankErrorType_Returns400NamingIt_RedrivesNothing(string errorType)
    {
        using var client = api.CreateApiClient();
        var jobIds = await SubmitAsync(client, 2);
        await DeadLetterAsync(jobIds, sameInstantGroupSize: 2);

        using var response = await RedriveAsync(client, $$"""{"errorType":"{{errorType}}"}""");

        // A blank error type matches no job; it once read as no filter and redrove every dead letter.
        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, "errorType");
        Assert.Equal(2, await api.Redis.GetDatabase().SortedSetLengthAsync(new RedisKeys().DeadLetters)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("from", "2026-12-01T00:00:00", HttpStatusCode.BadRequest)]
    [InlineData("to", "2026-12-01T00:00:00.000", HttpStatusCode.BadRequest)]
    [InlineData("from", "2026-12-01", HttpStatusCode.BadRequest)]
    [InlineData("to", "2026-12-01T00:00:00Z", HttpStatusCode.OK)]
    [InlineData("from", "2026-12-01T01:00:00+01:00", HttpStatusCode.OK)]
    [InlineData("to", "2026-12-01T00:00:00-05:30", HttpStatusCode.OK)]
    public async Task Redrive_TimeWithoutUtcOffset_Returns400NamingIt(string member, string time, HttpStatusCode expected)
    {
        using var client = api.CreateApiClient();

        // Read without an offset, the time was taken in the server's time zone, which the client cannot know.
        using var response = await RedriveAsync(client, $$"""{"{{member}}":"{{time}}"}""");

        if (expected == HttpStatusCode.OK)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return;
        }

        await ProblemAssert.IsProblemNamingAsync(response, expected, member);
    }

    [Theory]
    [InlineData("""{"limit":1,"limit":1000}""", "limit")]
    [InlineData("""{"errorType":"timeout","ErrorType":"attempts-exhausted"}""", "errorType")]
    [InlineData("""{"from":"2026-12-01T00:00:00Z","limit":1,"FROM":"2026-12-02T00:00:00Z"}""", "from")]
    public async Task Redrive_MemberNamedTwice_Returns400NamingIt(string filter, string member)
    {
        using var client = api.CreateApiClient();

        // As POST /jobs refuses a repeated member; the last one won here.
        using var response = await RedriveAsync(client, filter);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.RootElement.GetProperty("errors");
        Assert.Equal("The property appears more than once.", Assert.Single(errors.GetProperty(member).EnumerateArray()).GetString());
    }

    [Theory]
    [InlineData("""{"error_type":"timeout"}""", "error_type")]
    [InlineData("""{"errorType":"timeout","since":"2026-12-01T00:00:00Z"}""", "since")]
    [InlineData("""{"limit":1,"tenants":["a"]}""", "tenants")]
    public async Task Redrive_MemberItDoesNotKnow_Returns400NamingIt_RedrivesNothing(string filter, string member)
    {
        using var client = api.CreateApiClient();
        var jobIds = await SubmitAsync(client, 2);
        await DeadLetterAsync(jobIds, sameInstantGroupSize: 2);

        // A misspelled member once went unread: the filter was broader than meant and redrove every dead letter.
        using var response = await RedriveAsync(client, filter);

        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, member);
        Assert.Equal(2, await api.Redis.GetDatabase().SortedSetLengthAsync(new RedisKeys().DeadLetters)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("", "null", null)]
    [InlineData("", " null ", null)]
    [InlineData("?tenant=default", "{}", "tenant")]
    [InlineData("?errorType=timeout", """{"limit":1}""", "errorType")]
    public async Task Redrive_NullBodyOrAQueryParameter_Returns400_RedrivesNothing(string query, string body, string? named)
    {
        using var client = api.CreateApiClient();
        var jobIds = await SubmitAsync(client, 2);
        await DeadLetterAsync(jobIds, sameInstantGroupSize: 2);

        // Both were read as no filter at all, and redrove every dead letter.
        using var response = await RedriveAsync(client, body, query);

        if (named is null)
        {
            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.Contains("not null", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        else
        {
            await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, named);
        }

        Assert.Equal(2, await api.Redis.GetDatabase().SortedSetLengthAsync(new RedisKeys().DeadLetters)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    private static Task<HttpResponseMessage> RedriveAsync(HttpClient client, string filter, string query = "") =>
        client.PostAsync("/dead-letters/redrive" + query, ApiFactory.Json(filter), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    private async Task<List<string>> SubmitAsync(HttpClient client, int count)
    {
        var ids = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"dead letter {{i}}"}"""));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            using var json = JsonDocument.Parse(await ReadAsync(response));
            ids.Add(json.RootElement.GetProperty("jobId").GetString()!);
        }

        return ids;
    }

    /// <summary>
    /// Fails every job for good the way a worker does, <paramref name="sameInstantGroupSize"/> jobs
    /// per script call (so at one instant of Redis's clock, which stamps them), each group at a later
    /// millisecond than the one before; returns the job ids in the order they failed.
    /// </summary>
    private async Task<List<string>> DeadLetterAsync(IReadOnlyCollection<string> jobIds, int sameInstantGroupSize)
    {
        var worker = await TestWorker.StartAsync(api);
        var started = await worker.StartAttemptsAsync(jobIds.Count);
        Assert.Equal(jobIds.Order(StringComparer.Ordinal), started.Select(s => s.Lease.JobId).Order(StringComparer.Ordinal));

        var failed = new List<string>();
        foreach (var group in started.Chunk(sameInstantGroupSize))
        {
            var instant = await worker.FailTogetherAsync(group);
            failed.AddRange(group.Select(s => s.Lease.JobId));
            await RedisClock.WaitPastAsync(api.Redis.GetDatabase(), instant);
        }

        return failed;
    }

    /// <summary>Newest first; jobs dead-lettered at the same instant in reverse id order (the zset's reverse order).</summary>
    private async Task<List<string>> ExpectedNewestFirstAsync()
    {
        var entries = await api.Redis.GetDatabase().SortedSetRangeByRankWithScoresAsync(new RedisKeys().DeadLetters)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        return [.. entries
            .OrderByDescending(e => e.Score)
            .ThenByDescending(e => (string)e.Element!, StringComparer.Ordinal)
            .Select(e => (string)e.Element!)];
    }

    private static Task<string> ReadAsync(HttpResponseMessage response) =>
        response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
}
