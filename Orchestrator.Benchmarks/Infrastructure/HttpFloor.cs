using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// S1's floors: Kestrel on loopback doing the least a <c>POST /jobs</c> can — route the request,
/// parse its JSON body, answer 202 with a job-sized body — and, with <see cref="RedisVariable"/>
/// set, one <c>XADD</c> through StackExchange.Redis per request: the least a submission that stores
/// anything can do. No validation, no script, no telemetry. Run as its own process
/// (<c>Orchestrator.Benchmarks --http-floor</c>, with the API's runtime settings) and driven by the
/// same load client, it shows what HTTP and one Redis call cost on this machine.
/// </summary>
internal static class HttpFloor
{
    public const string Argument = "--http-floor";

    /// <summary>The Redis connection string, when the floor stores each request.</summary>
    public const string RedisVariable = "ORCHESTRATOR_FLOOR_REDIS";

    private static readonly byte[] Body = """{"jobId":"0123456789abcdefghijkl","status":"queued","location":"/jobs/0123456789abcdefghijkl"}"""u8.ToArray();

    public static async Task ServeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var redis = Environment.GetEnvironmentVariable(RedisVariable) is { } connection
            ? await ConnectionMultiplexer.ConnectAsync(connection)
            : null;
        var db = redis?.GetDatabase();
        var app = builder.Build();
        app.MapGet("/alive", () => Results.Ok());
        app.MapPost("/jobs", async (HttpContext context) =>
        {
            using var request = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            if (db is not null)
            {
                await db.StreamAddAsync("floor", "jobId", "0123456789abcdefghijkl");
            }

            context.Response.StatusCode = StatusCodes.Status202Accepted;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = Body.Length;
            await context.Response.Body.WriteAsync(Body, context.RequestAborted);
        });
        await app.RunAsync();
    }
}
