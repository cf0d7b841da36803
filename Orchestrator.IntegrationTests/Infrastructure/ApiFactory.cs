extern alias OrchestratorApi;

using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// The real API hosted in-process (<see cref="WebApplicationFactory{TEntryPoint}"/>, TestServer) over
/// its own real <c>redis-server</c>, so each test class that takes it as a class fixture is isolated
/// from the others and may flush, stop or start its Redis.
/// </summary>
/// <remarks>
/// The limits are small and distinct from the defaults (see <see cref="Settings"/>), so a test can
/// tell that the configured value, not a hard-coded one, was applied.
/// </remarks>
public class ApiFactory : WebApplicationFactory<OrchestratorApi::Program>, IAsyncLifetime
{
    /// <summary>The bound on every HTTP request and Redis command a test makes.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary><c>Api:MaxPromptLength</c> as configured here.</summary>
    public const int MaxPromptLength = 100;

    /// <summary><c>Api:MaxRequestBodySize</c> as configured here, in bytes.</summary>
    public const int MaxRequestBodySize = 8192;

    /// <summary><c>Api:MaxMetadataBytes</c> as configured here.</summary>
    public const int MaxMetadataBytes = 2048;

    /// <summary><c>Api:RequestBodyTimeout</c> as configured here.</summary>
    public static readonly TimeSpan RequestBodyTimeout = TimeSpan.FromSeconds(8);

    /// <summary><c>Api:EventStreamWriteTimeout</c> as configured here.</summary>
    public static readonly TimeSpan EventStreamWriteTimeout = TimeSpan.FromSeconds(5);

    /// <summary><c>Api:IdempotencyKeyTtl</c> as configured here.</summary>
    public static readonly TimeSpan IdempotencyKeyTtl = TimeSpan.FromMinutes(10);

    /// <summary><c>Api:JobRetention</c> as configured here.</summary>
    public static readonly TimeSpan JobRetention = TimeSpan.FromHours(1);

    /// <summary><c>Retry:MaxAttempts</c> as configured here.</summary>
    public const int MaxAttempts = 3;

    private RedisServer? _redisServer;
    private ConnectionMultiplexer? _redis;

    /// <summary>The API's settings on top of its appsettings.</summary>
    public static IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Api:MaxPromptLength"] = MaxPromptLength.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Api:MaxRequestBodySize"] = MaxRequestBodySize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Api:MaxMetadataBytes"] = MaxMetadataBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Api:RequestBodyTimeout"] = RequestBodyTimeout.ToString("c"),
        ["Api:EventStreamWriteTimeout"] = EventStreamWriteTimeout.ToString("c"),
        ["Api:IdempotencyKeyTtl"] = IdempotencyKeyTtl.ToString("c"),
        ["Api:JobRetention"] = JobRetention.ToString("c"),
        ["Retry:MaxAttempts"] = MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Logging:LogLevel:Default"] = "Warning",
        // The tests written before API keys call without one; the tenant tests send keys.
        ["Auth:AllowAnonymous"] = "true",
    };

    /// <summary>The API's Redis.</summary>
    public RedisServer RedisServer => _redisServer ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <summary>The test's own connection to the API's Redis, for assertions and worker-side calls.</summary>
    public IConnectionMultiplexer Redis => _redis ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <inheritdoc />
    public virtual async ValueTask InitializeAsync()
    {
        _redisServer = await RedisServer.StartAsync(new RedisServerOptions(), TestContext.Current.CancellationToken);
        _redis = await ConnectionMultiplexer.ConnectAsync($"{_redisServer.ConnectionString},abortConnect=false,allowAdmin=true")
            .WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);
    }

    /// <summary>An <see cref="HttpClient"/> to the in-process API, each request bounded by <see cref="RequestTimeout"/>.</summary>
    public HttpClient CreateApiClient()
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.Timeout = RequestTimeout;
        return client;
    }

    /// <summary>Deletes every key, so a test starts from an empty store.</summary>
    public Task FlushAsync() => RedisServer.FlushAsync(TestContext.Current.CancellationToken).WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);

    /// <summary>A JSON body (<c>application/json; charset=utf-8</c>).</summary>
    public static HttpContent Json(string json) => new StringContent(json, Encoding.UTF8, "application/json");

    /// <summary>Raw bytes with the given content type, or none.</summary>
    public static HttpContent Bytes(byte[] body, string? contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        return content;
    }

    /// <summary>
    /// <c>POST /jobs</c>; <paramref name="headers"/> are added without validation, so a test can
    /// send header values a well-behaved client would refuse to.
    /// </summary>
    public static Task<HttpResponseMessage> PostJobAsync(HttpClient client, HttpContent content, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = content };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);
    }

    /// <summary>Submits <paramref name="prompt"/> (asserting 202) and returns the new job's id.</summary>
    public static async Task<string> SubmitPromptAsync(HttpClient client, string prompt)
    {
        using var submitted = await PostJobAsync(client, Json(System.Text.Json.JsonSerializer.Serialize(new { prompt })));
        Assert.Equal(System.Net.HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = System.Text.Json.JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return accepted.RootElement.GetProperty("jobId").GetString()!;
    }

    /// <summary>A GET, bounded by <see cref="RequestTimeout"/>.</summary>
    public static Task<HttpResponseMessage> GetAsync(HttpClient client, string path) =>
        client.GetAsync(path, TestContext.Current.CancellationToken).WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);

    /// <inheritdoc />
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // UseSetting, not ConfigureAppConfiguration: the minimal host reads these before Build()
        // (AddRedisClient reads the connection string when it is called).
        builder.UseSetting("ConnectionStrings:redis", RedisServer.ConnectionString);
        foreach (var (key, value) in Settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        try
        {
            await base.DisposeAsync();
        }
        finally
        {
            if (_redis is not null)
            {
                await _redis.DisposeAsync();
            }

            if (_redisServer is not null)
            {
                await _redisServer.DisposeAsync();
            }
        }
    }
}

/// <summary>
/// <see cref="ApiFactory"/> on a real Kestrel port, for the tests that need real HTTP on the wire
/// (header values or framing an <see cref="HttpClient"/> or TestServer would not pass through).
/// </summary>
public sealed class KestrelApiFactory : ApiFactory
{
    /// <summary>Listens on a free loopback port.</summary>
    public KestrelApiFactory() => UseKestrel(0);

    /// <summary>The address Kestrel listens on.</summary>
    public Uri ServerAddress => new(Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <inheritdoc />
    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        StartServer();
    }
}
