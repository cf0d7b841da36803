using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orchestrator.IntegrationTests.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Every job belongs to its tenant (issue 16): another tenant's job answers 404 exactly as an
/// unknown one; idempotency keys are scoped per tenant; dead letters are listed per tenant, all of
/// them for an admin key, one tenant's with <c>?tenant=</c>. Jobs are dead-lettered through the
/// store's real worker-side scripts.
/// </summary>
public sealed class TenantIsolationTests(TenantApiFactory api) : IClassFixture<TenantApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Get_AnotherTenantsJob_Returns404IdenticalToAnUnknownId()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        var jobId = await SubmitAsync(a, "tenant A's prompt");

        using var theirs = await ApiFactory.GetAsync(b, $"/jobs/{jobId}");
        using var unknown = await ApiFactory.GetAsync(b, $"/jobs/{Orchestrator.Jobs.JobIds.New()}");
        using var own = await ApiFactory.GetAsync(a, $"/jobs/{jobId}");

        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(unknown.Content.Headers.ContentType, theirs.Content.Headers.ContentType);
        // The same body, but for the trace id every answer carries.
        Assert.Equal(await WithoutTraceIdAsync(unknown), await WithoutTraceIdAsync(theirs));
        Assert.DoesNotContain(jobId, await theirs.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    [Fact]
    public async Task Get_AnyTenantsJobWithAdminKey_Returns200()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var admin = api.CreateApiClient(TenantApiFactory.AdminKey);
        var jobId = await SubmitAsync(a, "tenant A's prompt");

        using var response = await ApiFactory.GetAsync(admin, $"/jobs/{jobId}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Submit_SameIdempotencyKeyFromTwoTenants_CreatesTwoJobsEachReplayingItsOwn()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        const string key = "shared-key-1";
        const string body = """{"prompt":"the same request"}""";

        var jobA = await SubmitAsync(a, body, key, HttpStatusCode.Accepted);
        var jobB = await SubmitAsync(b, body, key, HttpStatusCode.Accepted);
        var replayA = await SubmitAsync(a, body, key, HttpStatusCode.Accepted);
        var replayB = await SubmitAsync(b, body, key, HttpStatusCode.Accepted);

        Assert.NotEqual(jobA, jobB);
        Assert.Equal(jobA, replayA);
        Assert.Equal(jobB, replayB);
        using var readA = await ApiFactory.GetAsync(a, $"/jobs/{jobA}");
        using var readB = await ApiFactory.GetAsync(b, $"/jobs/{jobB}");
        Assert.Equal(HttpStatusCode.OK, readA.StatusCode);
        Assert.Equal(HttpStatusCode.OK, readB.StatusCode);
    }

    [Fact]
    public async Task Submit_TenantNameAndKeyThatConcatenateAlike_DoNotCollide()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        const string body = """{"prompt":"the same request"}""";

        // "tenant" + "-a:x" and "tenant-a" + ":x" would be one string; the tenant segment ends at its colon.
        var first = await SubmitAsync(a, body, "x", HttpStatusCode.Accepted);
        var second = await SubmitAsync(b, body, "x", HttpStatusCode.Accepted);
        var third = await SubmitAsync(b, body, "tenant-a:x", HttpStatusCode.Accepted);

        Assert.Equal(3, new[] { first, second, third }.Distinct().Count());
    }

    [Fact]
    public async Task DeadLetters_ListedPerTenant_AllForAnAdminKey_OneTenantWithQuery()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        using var admin = api.CreateApiClient(TenantApiFactory.AdminKey);
        string[] ofA = [await SubmitAsync(a, "A one"), await SubmitAsync(a, "A two")];
        string[] ofB = [await SubmitAsync(b, "B one")];
        await DeadLetterAllAsync(3);

        Assert.Equal(ofA.Order(), (await ListAsync(a, "/dead-letters")).Order());
        Assert.Equal(ofB.Order(), (await ListAsync(b, "/dead-letters")).Order());
        Assert.Equal(ofA.Concat(ofB).Order(), (await ListAsync(admin, "/dead-letters")).Order());
        Assert.Equal(ofB.Order(), (await ListAsync(admin, $"/dead-letters?tenant={TenantApiFactory.TenantB}")).Order());
        Assert.Empty(await ListAsync(admin, "/dead-letters?tenant=no-such-tenant"));
        // A tenant's own name in ?tenant= is allowed; another's is not.
        Assert.Equal(ofA.Order(), (await ListAsync(a, $"/dead-letters?tenant={TenantApiFactory.TenantA}")).Order());
        using var other = await ApiFactory.GetAsync(a, $"/dead-letters?tenant={TenantApiFactory.TenantB}");
        using var forbidden = await ProblemAssert.IsProblemAsync(other, HttpStatusCode.Forbidden);
        using var malformed = await ApiFactory.GetAsync(admin, "/dead-letters?tenant=Not%3AValid");
        await ProblemAssert.IsProblemNamingAsync(malformed, HttpStatusCode.BadRequest, "tenant");
    }

    private async Task DeadLetterAllAsync(int count)
    {
        var worker = await TestWorker.StartAsync(api);
        foreach (var (lease, attempt) in await worker.StartAttemptsAsync(count))
        {
            await worker.FailAsync(lease, attempt);
        }
    }

    private static async Task<List<string>> ListAsync(HttpClient client, string path)
    {
        using var response = await ApiFactory.GetAsync(client, path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(JsonValueKind.Null, page.RootElement.GetProperty("nextCursor").ValueKind);
        return [.. page.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("jobId").GetString()!)];
    }

    private static Task<string> SubmitAsync(HttpClient client, string prompt) =>
        SubmitAsync(client, JsonSerializer.Serialize(new { prompt }), key: null, HttpStatusCode.Accepted);

    private static async Task<string> SubmitAsync(HttpClient client, string body, string? key, HttpStatusCode expected)
    {
        using var response = key is null
            ? await ApiFactory.PostJobAsync(client, ApiFactory.Json(body))
            : await ApiFactory.PostJobAsync(client, ApiFactory.Json(body), ("Idempotency-Key", key));
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(expected == response.StatusCode, $"Expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    private static async Task<string> WithoutTraceIdAsync(HttpResponseMessage response)
    {
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!.AsObject();
        Assert.True(body.Remove("traceId"), "A problem carries a trace id.");
        return body.ToJsonString();
    }
}
