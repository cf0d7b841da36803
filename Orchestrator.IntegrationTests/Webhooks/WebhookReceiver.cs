using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// A webhook receiver for tests: Kestrel on 127.0.0.1 only (no test sends traffic beyond loopback),
/// answering 500 until <see cref="FailUntil"/> and 200 after (or never, while <see cref="Hang"/>),
/// and keeping every request it got with the answer it gave.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedWebhook> _received = new();
    private readonly CancellationTokenSource _stopping = new();

    private WebhookReceiver(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where to send webhooks (<c>http://127.0.0.1:port/hooks</c>).</summary>
    public Uri Address { get; }

    /// <summary>Until when (UTC) every request is answered <see cref="FailStatus"/>.</summary>
    public DateTimeOffset FailUntil { get; set; } = DateTimeOffset.MinValue;

    /// <summary>The status of a failed answer (500 unless set).</summary>
    public int FailStatus { get; set; } = 500;

    /// <summary>A <c>Retry-After</c> sent with each failed answer, none when null.</summary>
    public string? RetryAfter { get; set; }

    /// <summary>
    /// Whether a request is held without an answer until the sender gives up (its
    /// <c>Webhooks:RequestTimeout</c>) or the receiver stops; such a request is kept with status 0.
    /// </summary>
    public bool Hang { get; set; }

    /// <summary>Every request so far, in arrival order.</summary>
    public IReadOnlyList<ReceivedWebhook> Received => [.. _received];

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = LoopbackPort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/hooks"));
        app.MapPost("/hooks", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            var hang = receiver.Hang;
            var status = hang ? 0 : DateTimeOffset.UtcNow < receiver.FailUntil ? receiver.FailStatus : 200;
            if (status == receiver.FailStatus && receiver.RetryAfter is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = retryAfter;
            }

            receiver._received.Enqueue(new ReceivedWebhook(
                context.Request.Headers["webhook-id"].ToString(),
                context.Request.Headers["webhook-timestamp"].ToString(),
                context.Request.Headers["webhook-signature"].ToString(),
                body,
                DateTimeOffset.UtcNow,
                status)
            {
                TraceParent = context.Request.Headers.TraceParent.FirstOrDefault(),
            });
            if (hang)
            {
                using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, receiver._stopping.Token);
                await Task.Delay(Timeout.Infinite, ended.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                return TypedResults.StatusCode(503);
            }

            return TypedResults.StatusCode(status);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}

/// <summary>One request the receiver got, and the status it answered (0: none, it hung).</summary>
internal sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, DateTimeOffset At, int AnsweredStatus)
{
    /// <summary>The request's W3C <c>traceparent</c> header, if any.</summary>
    public string? TraceParent { get; init; }

    /// <summary>
    /// Whether it carries a Standard Webhooks signature made with <paramref name="secret"/> (<c>whsec_…</c>):
    /// base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), sent as "v1,&lt;sig&gt;" (several
    /// space-separated signatures allowed), the key being the base64 after "whsec_"; and a timestamp
    /// within 5 minutes of its arrival.
    /// </summary>
    public bool IsSignedWith(string secret)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(key, System.Text.Encoding.UTF8.GetBytes($"{Id}.{Timestamp}.{Body}")));
        var timestamp = DateTimeOffset.FromUnixTimeSeconds(long.Parse(Timestamp, CultureInfo.InvariantCulture));
        return Math.Abs((timestamp - At).TotalMinutes) < 5 && Signature.Split(' ').Any(s => s == "v1," + expected);
    }
}
