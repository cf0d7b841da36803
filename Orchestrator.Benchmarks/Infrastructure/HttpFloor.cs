using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// S1's floor: Kestrel on loopback doing the least a <c>POST /jobs</c> can — route the request, parse
/// its JSON body, answer 202 with a job-sized body — and nothing else (no Redis, no validation, no
/// telemetry). Run as its own process (<c>Orchestrator.Benchmarks --http-floor</c>, with the API's
/// runtime settings), it measures what HTTP alone costs on this machine with the same load client.
/// </summary>
internal static class HttpFloor
{
    public const string Argument = "--http-floor";

    private static readonly byte[] Body = """{"jobId":"0123456789abcdefghijkl","status":"queued","location":"/jobs/0123456789abcdefghijkl"}"""u8.ToArray();

    public static async Task ServeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapGet("/alive", () => Results.Ok());
        app.MapPost("/jobs", static async (HttpContext context) =>
        {
            using var request = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = Body.Length;
            await context.Response.Body.WriteAsync(Body, context.RequestAborted);
        });
        await app.RunAsync();
    }
}
