using System.Net;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Every request carries an API key (issue 16): 401 problem with <c>WWW-Authenticate: Bearer</c>
/// without one or with a wrong one; <c>Authorization: Bearer</c> and <c>x-api-key</c> both work, as
/// do keys configured only by their SHA-256; health and the OpenAPI document stay open.
/// </summary>
public sealed class ApiKeyAuthenticationTests(TenantApiFactory api) : IClassFixture<TenantApiFactory>
{
    private const string Job = """{"prompt":"who am I"}""";

    public static TheoryData<string, string> ProtectedEndpoints => new()
    {
        { "POST", "/jobs" },
        { "GET", "/jobs/AAAAAAAAAAAAAAAAAAAAAA" },
        { "GET", "/dead-letters" },
    };

    [Theory]
    [MemberData(nameof(ProtectedEndpoints))]
    public async Task Request_WithoutKey_Returns401ProblemWithBearerChallenge(string method, string path)
    {
        using var client = api.CreateApiClient();

        using var response = await SendAsync(client, method, path);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized);
        // The exact header issue 16 names, for a missing key and a wrong one alike: a script compares it whole.
        Assert.Equal("Bearer", Assert.Single(response.Headers.GetValues("WWW-Authenticate")));
    }

    [Theory]
    [InlineData("Authorization", "Bearer not-a-configured-key-0123456789")]
    [InlineData("Authorization", "Bearer " + TenantApiFactory.KeyA + "x")]
    [InlineData("Authorization", "Basic dXNlcjpwYXNz")]
    [InlineData("x-api-key", "not-a-configured-key-0123456789")]
    [InlineData("x-api-key", "")]
    // A key's SHA-256 is configuration, not a credential: sending the configured entry does not authenticate.
    [InlineData("x-api-key", "sha256:0000000000000000000000000000000000000000000000000000000000000000")]
    public async Task Submit_WrongKey_Returns401ProblemWithBearerChallengeAndNoEcho(string header, string value)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Job), (header, value));

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized);
        // The exact header issue 16 names, for a missing key and a wrong one alike: a script compares it whole.
        Assert.Equal("Bearer", Assert.Single(response.Headers.GetValues("WWW-Authenticate")));
        if (value.Length > 0)
        {
            Assert.DoesNotContain(value.Replace("Bearer ", "", StringComparison.Ordinal), problem.RootElement.GetRawText(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Authorization", "Bearer " + TenantApiFactory.KeyA, TenantApiFactory.TenantA)]
    [InlineData("Authorization", "bearer " + TenantApiFactory.KeyA, TenantApiFactory.TenantA)]
    [InlineData("x-api-key", TenantApiFactory.KeyA, TenantApiFactory.TenantA)]
    // Tenant B is configured as sha256:<hex> of its key only.
    [InlineData("Authorization", "Bearer " + TenantApiFactory.KeyB, TenantApiFactory.TenantB)]
    [InlineData("x-api-key", TenantApiFactory.KeyB, TenantApiFactory.TenantB)]
    public async Task Submit_ConfiguredKey_Returns202AndTheJobBelongsToTheKeysTenant(string header, string value, string tenant)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Job), (header, value));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var jobId = body.RootElement.GetProperty("jobId").GetString()!;
        var stored = await api.Redis.GetDatabase().HashGetAsync(new Orchestrator.Jobs.RedisKeys().Job(jobId), "tenant")
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(tenant, (string?)stored);
    }

    /// <summary>The scheme with no key says the key is missing, not that the scheme is wrong.</summary>
    [Theory]
    [InlineData("Bearer")]
    [InlineData("bearer ")]
    public async Task Submit_BearerWithNoKey_Returns401SayingTheKeyIsEmpty(string value)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Job), ("Authorization", value));

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Equal("The API key is empty.", problem.RootElement.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Submit_BothHeadersWithDifferentKeys_Returns401()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Job),
            ("Authorization", "Bearer " + TenantApiFactory.KeyA), ("x-api-key", TenantApiFactory.KeyB));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Submit_AdminKey_Returns403Problem()
    {
        using var client = api.CreateApiClient(TenantApiFactory.AdminKey);

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Job));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    [InlineData("/openapi/v1.json")]
    public async Task OpenEndpoint_WithoutKey_Returns200(string path)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    [InlineData("/openapi/v1.json")]
    public async Task OpenEndpoint_HeadAnswers200WithoutKey_OtherMethods405(string path)
    {
        using var client = api.CreateApiClient();

        using var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        // Only GET and HEAD are open: another method is refused as on any route (401 without a key).
        using var keyed = api.CreateApiClient(TenantApiFactory.KeyA);
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete })
        {
            using var response = await keyed.SendAsync(new HttpRequestMessage(method, path), TestContext.Current.CancellationToken)
                .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.MethodNotAllowed);
            Assert.Equal("This endpoint takes GET, HEAD.", problem.RootElement.GetProperty("detail").GetString());
        }
    }

    [Fact]
    public async Task UnknownRoute_404ProblemSaysWhereTheEndpointsAre()
    {
        using var client = api.CreateApiClient(TenantApiFactory.KeyA);

        using var response = await ApiFactory.GetAsync(client, "/no-such-route");

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal("Not found", problem.RootElement.GetProperty("title").GetString());
        Assert.Contains("/openapi/v1.json", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "POST", "/jobs")]
    [InlineData(TenantApiFactory.KeyA, "POST", "/jobs")]
    [InlineData(TenantApiFactory.KeyA, "GET", "/jobs/AAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData(TenantApiFactory.KeyA, "GET", "/jobs/short")]
    [InlineData(TenantApiFactory.KeyA, "GET", "/dead-letters?limit=0")]
    [InlineData(TenantApiFactory.KeyA, "GET", "/no-such-route")]
    [InlineData(null, "GET", "/health")]
    [InlineData(null, "GET", "/openapi/v1.json")]
    public async Task AnyResponse_CarriesNoSniff(string? key, string method, string path)
    {
        using var client = key is null ? api.CreateApiClient() : api.CreateApiClient(key);

        using var response = await SendAsync(client, method, path);

        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
    }

    [Fact]
    public async Task Get_UnknownJob_DetailDoesNotEchoThePath()
    {
        using var client = api.CreateApiClient(TenantApiFactory.KeyA);
        const string path = "/jobs/%3Cscript%3Ealert(1)%3C%2Fscript%3E";

        using var response = await ApiFactory.GetAsync(client, path);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
        var text = problem.RootElement.GetRawText();
        Assert.DoesNotContain("script", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task OpenApiDocument_DeclaresBearerAndApiKeyHeaderSchemes()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/openapi/v1.json");

        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var schemes = document.RootElement.GetProperty("components").GetProperty("securitySchemes");
        var bearer = schemes.EnumerateObject().Single(s => s.Value.GetProperty("type").GetString() == "http").Value;
        Assert.Equal("bearer", bearer.GetProperty("scheme").GetString());
        var header = schemes.EnumerateObject().Single(s => s.Value.GetProperty("type").GetString() == "apiKey").Value;
        Assert.Equal("header", header.GetProperty("in").GetString());
        Assert.Equal("x-api-key", header.GetProperty("name").GetString());
        // Either scheme satisfies the document's requirement (two alternatives).
        var requirements = document.RootElement.GetProperty("security").EnumerateArray().Select(r => r.EnumerateObject().Single().Name).ToList();
        Assert.Equal(schemes.EnumerateObject().Select(s => s.Name).Order(), requirements.Order());
        // Each operation declares the 401 it answers without a key.
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
        {
            foreach (var operation in path.Value.EnumerateObject())
            {
                Assert.True(operation.Value.GetProperty("responses").TryGetProperty("401", out _), $"{operation.Name} {path.Name} does not declare 401.");
            }
        }
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string path) =>
        method == "POST"
            ? ApiFactory.PostJobAsync(client, ApiFactory.Json(Job))
            : ApiFactory.GetAsync(client, path);
}
