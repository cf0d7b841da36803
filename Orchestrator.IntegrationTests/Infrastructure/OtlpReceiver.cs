using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// An OTLP/HTTP endpoint for tests (Kestrel on 127.0.0.1): answers 200 to every export and keeps
/// the raw bodies by signal. No protobuf decoding: a body holds its strings (log messages,
/// attribute keys and values) as plain UTF-8, so counting the bodies that contain a text is enough.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _received = new();

    private OtlpReceiver(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The value for <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (<c>http://127.0.0.1:port</c>).</summary>
    public string Endpoint { get; }

    /// <summary>The settings that point a service at this receiver over OTLP/HTTP (protobuf).</summary>
    public Dictionary<string, string> ExporterSettings(string serviceName) => new(StringComparer.Ordinal)
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_SERVICE_NAME"] = serviceName,
    };

    public static async Task<OtlpReceiver> StartAsync()
    {
        var port = LoopbackPort.Next().ToString(CultureInfo.InvariantCulture);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, $"http://127.0.0.1:{port}");
        app.MapPost("/v1/{signal}", async (HttpContext context, string signal) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
            receiver._received.Enqueue(("/v1/" + signal, body.ToArray()));
            // An empty ExportXServiceResponse: success, nothing rejected.
            context.Response.ContentType = "application/x-protobuf";
            return TypedResults.Ok();
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        return receiver;
    }

    /// <summary>How many bodies posted to <paramref name="path"/> (<c>/v1/logs</c>) contain <paramref name="text"/>.</summary>
    public int Count(string path, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return _received.Count(r => r.Path == path && r.Body.AsSpan().IndexOf(bytes) >= 0);
    }

    /// <summary>How many times <paramref name="text"/> occurs in all bodies posted to <paramref name="path"/>.</summary>
    public int Occurrences(string path, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var total = 0;
        foreach (var (p, body) in _received)
        {
            if (p != path)
            {
                continue;
            }

            var rest = body.AsSpan();
            for (var at = rest.IndexOf(bytes); at >= 0; at = rest.IndexOf(bytes))
            {
                total++;
                rest = rest[(at + bytes.Length)..];
            }
        }

        return total;
    }

    /// <summary>The bodies posted to <paramref name="path"/>, in arrival order.</summary>
    public IReadOnlyList<byte[]> Bodies(string path) => [.. _received.Where(r => r.Path == path).Select(r => r.Body)];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
