using System.Net.Sockets;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Api;
using Orchestrator.Api.Auth;
using Orchestrator.ServiceDefaults;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// Regressions found by the chaos run: while Redis restarts (AOF), the API met a <c>LOADING</c>
/// server error and a raw connection-reset socket exception, and answered 500 to both. Both mean
/// "the job store is unavailable": 503 problem details with <c>Retry-After</c>.
/// </summary>
public sealed class RedisUnavailableHandlerTests
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();

    public static TheoryData<string> NotReadyErrors => new()
    {
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "TRYAGAIN Multiple keys request during rehashing of slot",
    };

    [Theory]
    [MemberData(nameof(NotReadyErrors))]
    public async Task RedisNotReady_Returns503ProblemWithRetryAfter(string message)
    {
        await AssertServiceUnavailableAsync(new RedisServerException(message));
    }

    [Fact]
    public async Task ConnectionResetMidCommand_Returns503ProblemWithRetryAfter()
    {
        // What StackExchange.Redis surfaced: the transport's exception around ECONNRESET (104).
        await AssertServiceUnavailableAsync(new IOException("Connection reset by peer", new SocketException(104)));
    }

    [Fact]
    public async Task OtherRedisServerError_IsNotHidden()
    {
        // A script bug is a real 500, not an outage to retry.
        var (handled, _) = await HandleAsync(new RedisServerException("ERR user_script:1: Script attempted to access nonexistent global variable"));

        Assert.False(handled);
    }

    [Theory]
    [InlineData("POST", "SubmitJob", "key-1", "Retry with the same idempotency key")]
    [InlineData("POST", "SubmitJob", null, "a retry without an idempotency key may create a second one")]
    [InlineData("POST", "CancelJob", null, "safe to send again")]
    [InlineData("POST", "RedriveDeadLetter", null, "safe to send again")]
    [InlineData("POST", "RedriveDeadLetters", null, "safe to send again")]
    [InlineData("GET", "GetJob", null, "Retry after the Retry-After delay")]
    public async Task RedisUnavailable_DetailGivesTheRetryAdviceThatFitsTheRequest(string method, string endpointName, string? key, string advice)
    {
        // Only POST /jobs has an idempotency key; the exception handler finds the failed endpoint in its feature.
        var endpoint = new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(new EndpointNameMetadata(endpointName)), endpointName);
        var (handled, context) = await HandleAsync(new RedisServerException("LOADING Redis is loading the dataset in memory"), context =>
        {
            context.Request.Method = method;
            if (key is not null)
            {
                context.Request.Headers["Idempotency-Key"] = key;
            }

            context.Features.Set<IExceptionHandlerFeature>(new ExceptionHandlerFeature { Endpoint = endpoint, Error = new InvalidOperationException(), Path = "/" });
        });

        Assert.True(handled);
        context.Response.Body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(context.Response.Body, cancellationToken: TestContext.Current.CancellationToken);
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains(advice, detail, StringComparison.Ordinal);
        Assert.Equal(endpointName == "SubmitJob", detail.Contains("idempotency key", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("TRYAGAIN Multiple keys request during rehashing of slot", "answered that it cannot serve this request yet")]
    [InlineData("CLUSTERDOWN The cluster is down", "answered that it cannot serve this request yet")]
    [InlineData("READONLY You can't write against a read only replica.", "answered that it cannot serve this request yet")]
    [InlineData("OOM command not allowed when used memory > 'maxmemory'.", "refuses writes: its memory is full")]
    [InlineData("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.", "refuses writes: it cannot save its data to disk")]
    [InlineData("NOPERM User default has no permissions to run the 'evalsha' command", "lacks a right it needs (NOPERM)")]
    [InlineData(null, "is not answering")]
    public async Task Detail_SaysRedisAnsweredWhenItRefusedForNow_AndNotAnsweringOnlyWhenItDidNot(string? serverError, string says)
    {
        // A slot migration refused a partition's submissions (TRYAGAIN) with "is not answering": an operator looked for a dead node.
        Exception exception = serverError is null ? new RedisConnectionException(ConnectionFailureType.SocketFailure, "No connection") : new RedisServerException(serverError);
        var (handled, context) = await HandleAsync(exception);

        Assert.True(handled);
        context.Response.Body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(context.Response.Body, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Contains(says, problem.RootElement.GetProperty("detail").GetString()!, StringComparison.Ordinal);
        Assert.Equal(RedisUnavailableHandler.UnavailableType, problem.RootElement.GetProperty("type").GetString());
    }

    [Fact]
    public async Task RedisUnavailable_LogLine_CarriesTheCallersTenant()
    {
        // The handler runs after the request's tenant scope has closed: its line carried no tenant (an outside audit).
        var logger = new FakeLogger<RedisUnavailableHandler>();
        await HandleAsync(new RedisServerException("LOADING Redis is loading the dataset in memory"),
            context => context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(CallerClaims.Tenant, "acme")], "test")), logger);

        var scope = Assert.IsType<TenantScope>(Assert.Single(logger.LatestRecord.Scopes));
        Assert.Equal(new KeyValuePair<string, object?>(OrchestratorTags.Tenant, "acme"), scope[0]);
    }

    [Fact]
    public async Task RedisRefusingEveryRequest_LogsOneLinePerSecond_CountingTheOthers()
    {
        // An outside audit: one ~900-byte line per refused request wrote 10 MB in 31 s of MISCONF.
        var logger = new FakeLogger<RedisUnavailableHandler>();
        var time = new FakeTimeProvider();
        var handler = NewHandler(logger, time);
        var refusal = new RedisServerException("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk.");

        for (var request = 0; request < 50; request++)
        {
            Assert.True(await handler.TryHandleAsync(NewContext(), refusal, TestContext.Current.CancellationToken));
            time.Advance(TimeSpan.FromMilliseconds(30));
        }

        // 50 requests over 1.5 s: the first, then the one a second later, which counts the 33 between.
        Assert.Equal(2, logger.Collector.Count);
        Assert.Contains("(CannotPersist, RedisServerException)", logger.LatestRecord.Message, StringComparison.Ordinal);
        Assert.Contains("(33 more requests answered 503 since the last such line)", logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    private static async Task AssertServiceUnavailableAsync(Exception exception)
    {
        var (handled, context) = await HandleAsync(exception);

        Assert.True(handled);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        Assert.StartsWith("application/problem+json", context.Response.ContentType, StringComparison.Ordinal);
        context.Response.Body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(context.Response.Body, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
    }

    private static async Task<(bool Handled, HttpContext Context)> HandleAsync(Exception exception, Action<HttpContext>? arrange = null, ILogger<RedisUnavailableHandler>? logger = null)
    {
        var context = NewContext();
        arrange?.Invoke(context);
        var handled = await NewHandler(logger ?? NullLogger<RedisUnavailableHandler>.Instance, TimeProvider.System).TryHandleAsync(context, exception, TestContext.Current.CancellationToken);
        return (handled, context);
    }

    private static RedisUnavailableHandler NewHandler(ILogger<RedisUnavailableHandler> logger, TimeProvider time) =>
        new(Services.GetRequiredService<IProblemDetailsService>(), logger, time);

    private static DefaultHttpContext NewContext()
    {
        var context = new DefaultHttpContext { RequestServices = Services };
        context.Response.Body = new MemoryStream();
        return context;
    }
}
