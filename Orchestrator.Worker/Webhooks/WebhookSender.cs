using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;
using Orchestrator.Worker.Telemetry;
using Polly;
using Polly.Registry;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// Sends the webhook outbox (issue 19; docs/webhooks.md): every worker leases due deliveries
/// (<c>claim-webhooks.lua</c>), sends each signed as Standard Webhooks specifies, and records the
/// try (<c>record-webhook.lua</c>): delivered on a 2xx, else retried with exponential backoff until
/// <c>Webhooks:MaxAge</c> after the first try. A supervised loop claims while up to
/// <c>Webhooks:MaxConcurrentDeliveries</c> sends run, each on its own; Redis calls through the
/// <c>redis</c> pipeline (both scripts may be re-sent). A worker stopped mid-send records no try and
/// hands the delivery back, due at once (<see cref="HandBackAsync"/>): another worker sends it again
/// with the same id; a worker that dies leaves it to whoever claims it when its lease lapses. A receiver
/// that keeps failing is not sent to for a while (<see cref="ReceiverCircuits"/>).
/// </summary>
internal sealed class WebhookSender(
    JobStore store,
    WebhookHttpClient http,
    LoopSupervisor loops,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<WebhookOptions> options,
    OrchestratorMetrics metrics,
    TimeProvider timeProvider,
    StoreClock clock,
    ILogger<WebhookSender> logger) : BackgroundService
{
    private const string Loop = "webhooks";
    private readonly WebhookOptions _options = options.Value;
    private readonly ResiliencePipeline _redis = pipelines.GetPipeline(RedisPipeline.Name);
    private readonly ReceiverCircuits _circuits = new(options.Value.CircuitFailures, options.Value.CircuitBreakDuration, timeProvider);
    private readonly SlotShares _shares = new(options.Value.PerReceiverLimit(), options.Value.PerTenantLimit(), options.Value.MaxConcurrentDeliveries);
    private readonly PutBackPacer _pacer = new(options.Value.PollInterval, options.Value.RequestTimeout, timeProvider);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var keys = _options.SecretKeys();
        var tenantKeys = _options.TenantSecretKeys();
        if (keys.Count == 0 && tenantKeys.Count == 0)
        {
            WebhookLog.NoSecret(logger);
            return;
        }

        // Every tenant that gets webhooks may have its own secret: then none is shared.
        if (keys.Count == 0)
        {
            WebhookLog.TenantSecretsOnly(logger, string.Join(", ", tenantKeys.Keys.Order(StringComparer.Ordinal)));
        }

        var signers = new WebhookSigners(keys, tenantKeys);
        using var slots = new SemaphoreSlim(_options.MaxConcurrentDeliveries, _options.MaxConcurrentDeliveries);
        var sending = new List<Task>(_options.MaxConcurrentDeliveries);
        try
        {
            await loops.RunAsync(Loop, ct => StepAsync(signers, slots, sending, ct), stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            // Each send ends on the stop token, recording nothing, and hands its delivery back.
            await Task.WhenAll(sending).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits for a free slot, leases as many due deliveries as there are free slots and starts
    /// sending each. Deliveries are independent: a slot frees as soon as its delivery is recorded,
    /// and the next step claims more while others are in flight, so a receiver that hangs until
    /// <c>Webhooks:RequestTimeout</c> holds one slot, not every other delivery.
    /// </summary>
    private async Task StepAsync(WebhookSigners signers, SemaphoreSlim slots, List<Task> sending, CancellationToken cancellationToken)
    {
        await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
        var free = 1;
        while (free < _options.MaxConcurrentDeliveries && slots.Wait(0))
        {
            free++;
        }

        IReadOnlyList<LeasedWebhook> leased;
        try
        {
            // A delivery is leased only when a slot is free to send it: its lease runs from a send about to start.
            var token = Guid.NewGuid().ToString("N");
            leased = await _redis.ExecuteRedisAsync("claim-webhooks",
                _ => store.ClaimWebhooksAsync(free, _options.LeaseTimeout, token), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            slots.Release(free);
            throw;
        }

        if (leased.Count < free)
        {
            slots.Release(free - leased.Count);
        }

        sending.RemoveAll(static t => t.IsCompleted);
        foreach (var delivery in leased)
        {
            var receiver = ReceiverCircuits.Of(delivery.Delivery.Url);
            sending.Add(_shares.TryTake(receiver, delivery.Tenant, out var receiverFull)
                ? SendInSlotAsync(signers.For(delivery.Tenant), delivery, receiver, slots, cancellationToken)
                : PutBackAsync(delivery, receiverFull
                    ? _pacer.PutBack(ReceiverShare(receiver), _shares.PerReceiver)
                    : _pacer.PutBack(TenantShare(delivery.Tenant), _shares.PerTenant), slots, cancellationToken));
        }

        if (leased.Count < free)
        {
            // Fewer due than asked for: the outbox has nothing more due now, but what was put back
            // comes due at its share's pace.
            await Task.Delay(_pacer.NextDue(_options.PollInterval), timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string ReceiverShare(string receiver) => "receiver " + receiver;

    private static string TenantShare(string tenant) => "tenant " + tenant;

    /// <summary>
    /// Hands a leased delivery back unsent, due after <paramref name="wait"/> (<see cref="PutBackPacer"/>):
    /// its receiver, or its tenant, has as many tries in flight from this worker as
    /// <c>Webhooks:MaxConcurrentPerReceiver</c> (or <c>Webhooks:MaxConcurrentPerTenant</c>) allows.
    /// Frees its slot; never throws (unreleased, the delivery comes due when its lease lapses).
    /// </summary>
    private async Task PutBackAsync(LeasedWebhook leased, TimeSpan wait, SemaphoreSlim slots, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Yield();
            await _redis.ExecuteRedisAsync("release-webhook",
                _ => store.ReleaseWebhookAsync(leased, wait), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await HandBackAsync(leased, wait).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            loops.Fault(Loop, e);
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>
    /// The worker stops: a delivery it holds goes back to the outbox, due after <paramref name="wait"/>,
    /// for another worker to send, as a job is handed back. Left leased, it waited out
    /// <c>Webhooks:LeaseTimeout</c> (60 s) after every rolling restart. Sent on no token (the stop's is
    /// spent), as the job's hand-back; should Redis fail it, the lease lapses as before.
    /// </summary>
    private async Task HandBackAsync(LeasedWebhook leased, TimeSpan wait)
    {
        try
        {
            await store.ReleaseWebhookAsync(leased, wait).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            WebhookLog.NotHandedBack(logger, leased.Delivery.Id, e.Message);
        }
    }

    /// <summary>Sends one leased delivery and frees its slots; never throws (a fault is the loop's, logged and counted).</summary>
    private async Task SendInSlotAsync(WebhookSigner? signer, LeasedWebhook leased, string receiver, SemaphoreSlim slots, CancellationToken cancellationToken)
    {
        try
        {
            // Off the loop at once: signing and connecting do not hold up the next claim.
            await Task.Yield();
            var started = timeProvider.GetTimestamp();
            await SendAsync(signer, leased, receiver, cancellationToken).ConfigureAwait(false);
            var held = timeProvider.GetElapsedTime(started);
            _pacer.Sent(ReceiverShare(receiver), held);
            _pacer.Sent(TenantShare(leased.Tenant), held);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: no try recorded (the receiver may have had it: it is sent again, with the same id).
            await HandBackAsync(leased, TimeSpan.Zero).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // As a failed step was before: the delivery stays leased, and comes due again when the lease lapses.
            loops.Fault(Loop, e);
        }
        finally
        {
            _shares.Return(receiver, leased.Tenant);
            slots.Release();
        }
    }

    private async Task SendAsync(WebhookSigner? signer, LeasedWebhook leased, string receiver, CancellationToken cancellationToken)
    {
        var delivery = leased.Delivery;
        var attempt = delivery.Attempts + 1;
        // Every line about a job carries its tenant, as the job's own lines do.
        using var tenant = WorkerLog.TenantScope(logger, leased.Tenant);
        using var span = WebhookSpan.Start(leased, attempt);
        var sent = timeProvider.GetTimestamp();
        // Nothing to sign it with: a try not sent, nothing for or against the receiver's circuit; retried
        // (a worker given the secret sends it) and given up at Webhooks:MaxAge.
        var (statusCode, error, delay) = signer is null
            ? (0, $"not sent: tenant '{leased.Tenant}' has no signing secret (Webhooks:TenantSecrets:{leased.Tenant}), and Webhooks:Secret is not set",
                Backoff(attempt, _options.BaseDelay, _options.MaxDelay))
            : await TryThroughCircuitAsync(signer, delivery, receiver, attempt, cancellationToken).ConfigureAwait(false);
        // The script measures the retry window on Redis's clock (first try to next try), so it
        // decides between retrying and giving up; the worker says only how long to wait.
        var recorded = await _redis.ExecuteRedisAsync("record-webhook",
            _ => store.RecordWebhookAsync(leased, statusCode is >= 200 and < 300, statusCode, error,
                delay, _options.MaxAge, timeProvider.GetElapsedTime(sent)), cancellationToken).ConfigureAwait(false);
        if (recorded is null)
        {
            WebhookLog.LeaseLost(logger, delivery.Id, delivery.JobId, attempt);
            return;
        }

        // Counted as recorded: a try whose lease was lost records nothing; the holder counts its own try.
        metrics.WebhookDeliveries.Add(1,
            new KeyValuePair<string, object?>(OrchestratorTags.WebhookOutcome, WebhookSpan.Tag(recorded.Outcome)),
            new KeyValuePair<string, object?>(OrchestratorTags.Tenant, leased.Tenant));
        WebhookSpan.Recorded(span, recorded.Outcome, error);
        if (recorded.Outcome == WebhookOutcome.Delivered)
        {
            WebhookLog.Delivered(logger, delivery.Id, delivery.JobId, attempt, statusCode);
        }
        else if (recorded.Outcome == WebhookOutcome.Retrying)
        {
            WebhookLog.Retrying(logger, delivery.Id, delivery.JobId, attempt, statusCode, error, recorded.NextAttemptAt!.Value);
        }
        else
        {
            WebhookLog.GivenUp(logger, delivery.Id, delivery.JobId, attempt, statusCode, error);
        }
    }

    /// <summary>
    /// One try through the receiver's circuit, and the wait before the next: sent, or, while the
    /// circuit is open, not sent and due again when it lets a probe through (or after the backoff, if
    /// later), so a receiver that hangs holds no slot meanwhile.
    /// </summary>
    private async Task<(int StatusCode, string? Error, TimeSpan Delay)> TryThroughCircuitAsync(
        WebhookSigner signer, WebhookDelivery delivery, string receiver, int attempt, CancellationToken cancellationToken)
    {
        var circuit = _circuits.TryEnter(receiver);
        var backoff = Backoff(attempt, _options.BaseDelay, _options.MaxDelay);
        if (!circuit.Go)
        {
            return (0, $"not sent: {receiver} failed its last {circuit.Failures} tries (Webhooks:CircuitFailures), the last: {circuit.LastError}",
                circuit.OpenFor > backoff ? circuit.OpenFor : backoff);
        }

        try
        {
            var (statusCode, error, retryAfter) = await TryAsync(signer, delivery, cancellationToken).ConfigureAwait(false);
            _circuits.Record(receiver, statusCode is >= 200 and < 300, error);
            // A receiver's Retry-After lengthens the wait, never shortens it; Webhooks:MaxDelay still caps it.
            var delay = backoff;
            if (retryAfter > backoff)
            {
                delay = retryAfter < _options.MaxDelay ? retryAfter.Value : _options.MaxDelay;
            }

            return (statusCode, error, delay);
        }
        catch when (circuit.Probe)
        {
            // Stopping mid-probe: nothing to count for or against the receiver; the next delivery probes.
            _circuits.Abandon(receiver);
            throw;
        }
    }

    /// <summary>
    /// One try: the receiver's status (0 when none came), without a 2xx why, and with a <c>429</c> or
    /// <c>503</c> the wait its <c>Retry-After</c> asks for.
    /// </summary>
    private async Task<(int StatusCode, string? Error, TimeSpan? RetryAfter)> TryAsync(WebhookSigner signer, WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var body = WebhookPayload.Serialize(delivery);
        // Redis's clock, as the payload's own timestamp: a receiver rejects a webhook-timestamp far from
        // its clock, and a host minutes off had every try refused.
        var timestamp = clock.UtcNow;
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url)
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" } } },
        };
        request.Headers.Add("webhook-id", delivery.Id);
        request.Headers.Add("webhook-timestamp", timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", signer.Sign(delivery.Id, timestamp, Encoding.UTF8.GetString(body)));

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var response = await http.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            if (code is >= 200 and < 300)
            {
                return (code, null, null);
            }

            var retryAfter = code is 429 or 503 ? RetryAfter(response.Headers.RetryAfter, response.Headers.Date, timestamp) : null;
            return (code, retryAfter is { } wait ? $"HTTP {code}, Retry-After {wait.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s" : $"HTTP {code}", retryAfter);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (0, $"no answer within {_options.RequestTimeout} (Webhooks:RequestTimeout)", null);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // HttpRequestException as a rule; but any failure of the send is the receiver's try: thrown
            // on, it was a loop fault that left the delivery leased and unrecorded, tried again at each
            // lapse of its lease and never given up (an outside audit: a SocketException for a
            // callback on port 0, every 10 s, past Webhooks:MaxAge).
            return (0, Describe(e), null);
        }
    }

    /// <summary>
    /// A <c>Retry-After</c>'s wait: seconds, or an HTTP date counted from the answer's own <c>Date</c>
    /// (<paramref name="sent"/>; the receiver's clock, as the date is: RFC 9110 §10.2.3), else from
    /// <paramref name="now"/> (Redis's clock, as the try was stamped), as a provider's 429 is read.
    /// </summary>
    internal static TimeSpan? RetryAfter(RetryConditionHeaderValue? header, DateTimeOffset? sent, DateTimeOffset now) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date > (sent ?? now) ? date - (sent ?? now) : TimeSpan.Zero,
        _ => null,
    };

    private static string Describe(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        var text = ReferenceEquals(inner, e) ? e.Message : $"{e.Message} ({inner.Message})";
        return text.Length <= 500 ? text : text[..500];
    }

    /// <summary>The wait after try <paramref name="attempt"/> (1-based): base × 2^(attempt−1), at most <paramref name="max"/>.</summary>
    internal static TimeSpan Backoff(int attempt, TimeSpan baseDelay, TimeSpan max)
    {
        var factor = Math.Pow(2, Math.Min(attempt - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(baseDelay.Ticks * factor, max.Ticks));
    }
}
