using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Orchestrator.Llm;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// An OpenAI-compatible provider that answers exactly what a test scripts, byte for byte: Kestrel on
/// 127.0.0.1, <c>POST /v1/chat/completions</c> answered by <c>answer</c> (status, content type,
/// headers, body written whole or event by event at a pace, then the response ends cleanly, or breaks when it says so). For the answers the simulator
/// never gives: cut streams, error events inside a stream, bodies that are no stream at all, odd
/// rate-limit headers, other servers' error shapes.
/// </summary>
internal sealed class FakeProvider : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<FakeRequest> _requests = new();

    private FakeProvider(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    /// <summary>The base URL to configure as a provider's <c>Endpoint</c> (<c>http://127.0.0.1:port/v1</c>).</summary>
    public Uri Endpoint { get; }

    /// <summary>An <c>openai</c> provider at this endpoint serving <paramref name="models"/> (none given: <c>m</c>).</summary>
    public ProviderOptions Provider(params string[] models) => new()
    {
        Kind = ProviderKinds.OpenAI,
        Endpoint = Endpoint,
        Models = [.. (models.Length == 0 ? ["m"] : models).Select(m => new ModelOptions { Name = m })],
    };

    /// <summary>Every request so far, in arrival order.</summary>
    public IReadOnlyList<FakeRequest> Requests => [.. _requests];

    public static async Task<FakeProvider> StartAsync(Func<FakeRequest, FakeAnswer> answer)
    {
        var port = LoopbackPort.Next().ToString(CultureInfo.InvariantCulture);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var provider = new FakeProvider(app, new Uri($"http://127.0.0.1:{port}/v1"));
        app.MapPost("/v1/chat/completions", async (HttpContext context) =>
        {
            var body = (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!.AsObject();
            var request = new FakeRequest(
                provider._requests.Count + 1,
                body["model"]!.GetValue<string>(),
                body["stream"]?.GetValueKind() == JsonValueKind.True,
                body);
            provider._requests.Enqueue(request);
            var reply = answer(request);
            context.Response.StatusCode = reply.Status;
            context.Response.ContentType = reply.ContentType;
            foreach (var (name, value) in reply.Headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            if (reply.PacedEvents is { } steps)
            {
                // Each event after its pause, flushed: the headers go with the first.
                foreach (var (before, data) in steps)
                {
                    await Task.Delay(before, context.RequestAborted);
                    await context.Response.WriteAsync(data.StartsWith(':') ? $"{data}\n\n" : FakeAnswer.Event(data), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }

                return;
            }

            var bytes = reply.RawBody ?? System.Text.Encoding.UTF8.GetBytes(reply.Body);
            // One byte promised and never sent: Kestrel aborts the connection after the body, and the
            // client reads "the response ended prematurely".
            context.Response.ContentLength = bytes.Length + (reply.CutShort ? 1 : 0);
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        return provider;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}

/// <summary>One call the provider got: its number (from 1), the model asked for, whether it asked to stream, its whole body.</summary>
internal sealed record FakeRequest(int Number, string Model, bool Stream, JsonObject Body);

/// <summary>What the provider answers to one call.</summary>
internal sealed record FakeAnswer(int Status, string ContentType, string Body, IReadOnlyDictionary<string, string>? Headers = null)
{
    /// <summary>The body's bytes as sent, instead of <see cref="Body"/> in UTF-8 (for bytes that are no UTF-8).</summary>
    public byte[]? RawBody { get; init; }

    /// <summary>Whether the connection breaks right after the body (the response ends prematurely), instead of ending cleanly.</summary>
    public bool CutShort { get; init; }

    /// <summary>A stream's events, each sent after its pause, instead of <see cref="Body"/> at once.</summary>
    public IReadOnlyList<(TimeSpan Before, string Event)>? PacedEvents { get; init; }

    /// <summary>The event that ends an OpenAI stream.</summary>
    public const string Done = "[DONE]";

    /// <summary>A comment line, no event: what OpenRouter sends every second while a model thinks (a step of <see cref="Paced"/>).</summary>
    public const string KeepAlive = ": OPENROUTER PROCESSING";

    /// <summary>A 200 server-sent event stream of <paramref name="events"/>, each one <c>data:</c> line.</summary>
    public static FakeAnswer Stream(params string[] events) =>
        new(200, "text/event-stream", string.Concat(events.Select(Event)));

    /// <summary>One server-sent event: its <c>data:</c> line and the blank line that ends it.</summary>
    public static string Event(string data) => $"data: {data}\n\n";

    /// <summary>A 200 stream whose events come each after its pause: a provider slow, or silent for a while.</summary>
    public static FakeAnswer Paced(params (TimeSpan Before, string Event)[] steps) =>
        new(200, "text/event-stream", "") { PacedEvents = steps };

    /// <summary>An answer of <paramref name="status"/> with a JSON body.</summary>
    public static FakeAnswer Json(int status, string body, IReadOnlyDictionary<string, string>? headers = null) =>
        new(status, "application/json", body, headers);

    /// <summary>The usual good stream: <paramref name="texts"/> one chunk each, the last with <c>finish_reason: stop</c>, then usage, then <c>[DONE]</c>.</summary>
    public static FakeAnswer Answer(params string[] texts) => Stream(
        [.. texts.Select((t, i) => Chunk(t, i == texts.Length - 1 ? "stop" : null)), Chunk(usage: Usage(12, texts.Length)), Done]);

    /// <summary>
    /// One <c>chat.completion.chunk</c> as OpenAI streams it: a choice when <paramref name="text"/> or
    /// <paramref name="finish"/> is given (none otherwise, as the usage chunk has), the usage when given.
    /// </summary>
    public static string Chunk(string? text = null, string? finish = null, JsonObject? usage = null)
    {
        var chunk = new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1_700_000_000,
            ["model"] = "fake-model",
            ["choices"] = text is null && finish is null
                ? new JsonArray()
                : new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["delta"] = text is null ? new JsonObject() : new JsonObject { ["content"] = text },
                    ["finish_reason"] = finish,
                }),
        };
        if (usage is not null)
        {
            chunk["usage"] = usage;
        }

        return chunk.ToJsonString();
    }

    /// <summary>A usage object; a count left null is left out.</summary>
    public static JsonObject Usage(int? prompt, int? completion)
    {
        var usage = new JsonObject();
        if (prompt is { } p)
        {
            usage["prompt_tokens"] = p;
        }

        if (completion is { } c)
        {
            usage["completion_tokens"] = c;
        }

        usage["total_tokens"] = (prompt ?? 0) + (completion ?? 0);
        return usage;
    }
}
