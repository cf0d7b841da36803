using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Orchestrator.Client;

namespace Orchestrator.Chaos;

/// <summary>
/// The clients: each submits at a steady pace, mostly with an idempotency key. A keyed request that
/// gets no answer or a 503 is sent again with the same key and body (as a client retrying after a
/// timeout would), some acknowledged ones are re-sent on purpose, some twice at once. An observer
/// reads finished jobs to catch a result that changes afterwards.
/// </summary>
/// <remarks>
/// Submissions go over raw HTTP: the run records every answer (202, 503 or none) and re-sends by its
/// own rules, which the typed client would hide. Reads go through <see cref="OrchestratorClient"/>,
/// as an application's would.
/// </remarks>
internal sealed class ChaosClients(ChaosOptions options, Uri api, HttpClient http, OrchestratorClient reader, ClientHistory history, TimeProvider time)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);
    private readonly ConcurrentBag<Task> _operations = [];
    private readonly ConcurrentQueue<string> _acknowledged = new();
    private int _submissions;
    private int _deliberateReplays;

    /// <summary>Logical submissions started (each is one job a client wants; retries of it are not counted).</summary>
    public int Submissions => _submissions;

    /// <summary>Acknowledged submissions re-sent on purpose with their key (on top of retries after errors).</summary>
    public int DeliberateReplays => _deliberateReplays;

    /// <summary>Submits until <paramref name="stopSubmitting"/>, then waits (bounded) for the operations in flight.</summary>
    public async Task RunAsync(CancellationToken stopSubmitting, DateTimeOffset giveUpAt)
    {
        var clients = Enumerable.Range(1, options.Clients)
            .Select(n => ClientLoopAsync(n, new Random(HashCode.Combine(options.Seed, n)), stopSubmitting, giveUpAt))
            .ToList();
        var observer = ObserveAsync(new Random(options.Seed ^ 0x5eed), stopSubmitting);
        await Task.WhenAll(clients);
        await observer;
        await Task.WhenAll(_operations);
    }

    private async Task ClientLoopAsync(int client, Random random, CancellationToken stop, DateTimeOffset giveUpAt)
    {
        var interval = TimeSpan.FromSeconds(options.Clients / options.Rate);
        var next = time.GetUtcNow();
        var sequence = 0;
        while (!stop.IsCancellationRequested)
        {
            next += interval;
            var wait = next - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, time, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            sequence++;
            Interlocked.Increment(ref _submissions);
            // The certain poison jobs (--poison-jobs): the first client's 10th, 20th, … job, keyed and
            // re-sent until answered, so that each is accepted whatever fault meets its first send.
            var certainPoison = client == 1 && sequence % PoisonJobSpacing == 0 && sequence / PoisonJobSpacing <= options.PoisonJobs;
            var body = NewBody(random, client, sequence, certainPoison);
            double roll;
            lock (random)
            {
                roll = certainPoison ? 1 : random.NextDouble();
            }

            // 15% without a key (fire once: a client without a key cannot retry safely), 85% keyed.
            var key = roll < 0.15 ? null : $"chaos-{options.Seed}-{client}-{sequence}";
            var mode = roll switch
            {
                < 0.15 => Mode.Unkeyed,
                < 0.25 => Mode.ResendLater,
                < 0.30 => Mode.Concurrent,
                _ => Mode.Keyed,
            };
            var seed = random.Next();
            _operations.Add(Task.Run(() => SubmitAsync(client, key, body, mode, new Random(seed), giveUpAt), CancellationToken.None));
        }
    }

    private async Task SubmitAsync(int client, string? key, string body, Mode mode, Random random, DateTimeOffset giveUpAt)
    {
        if (key is null)
        {
            await SendAsync(client, "submit", key, body, 1);
            return;
        }

        var attempts = mode == Mode.Concurrent
            ? await Task.WhenAll(SubmitUntilAnsweredAsync(client, "submit", key, body, random, giveUpAt),
                SubmitUntilAnsweredAsync(client, "submit-concurrent", key, body, new Random(random.Next()), giveUpAt))
            : [await SubmitUntilAnsweredAsync(client, "submit", key, body, random, giveUpAt)];
        if (mode == Mode.ResendLater && attempts[0])
        {
            Interlocked.Increment(ref _deliberateReplays);
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(0, 3000)), time);
            await SubmitUntilAnsweredAsync(client, "resend", key, body, random, giveUpAt);
        }
    }

    /// <summary>Sends with the same key until a 202 (true) or a final 4xx, or until <paramref name="giveUpAt"/>.</summary>
    private async Task<bool> SubmitUntilAnsweredAsync(int client, string operation, string key, string body, Random random, DateTimeOffset giveUpAt)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        for (var attempt = 1; ; attempt++)
        {
            var answer = await SendAsync(client, operation, key, body, attempt);
            if (answer == 202)
            {
                return true;
            }

            if (answer is not (0 or 503) || time.GetUtcNow() + delay > giveUpAt)
            {
                return false;
            }

            await Task.Delay(delay * (0.75 + (random.NextDouble() / 2)), time);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
        }
    }

    private async Task<int> SendAsync(int client, string operation, string? key, string body, int attempt)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(api, "/jobs"))
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        var sentAt = time.GetUtcNow();
        using var cts = new CancellationTokenSource(RequestTimeout);
        try
        {
            using var response = await http.SendAsync(request, cts.Token);
            var text = await response.Content.ReadAsStringAsync(cts.Token);
            string? jobId = null;
            string? error = null;
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                jobId = JsonSerializer.Deserialize(text, ChaosJsonContext.Default.AcceptedBody)?.JobId;
                if (jobId is not null)
                {
                    _acknowledged.Enqueue(jobId);
                }
            }
            else
            {
                error = text.Length > 300 ? text[..300] : text;
            }

            history.Add(new ClientEvent(sentAt, time.GetUtcNow(), client, operation, key, attempt, (int)response.StatusCode, error, jobId,
                response.Headers.Contains("Idempotent-Replayed")));
            return (int)response.StatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or JsonException)
        {
            history.Add(new ClientEvent(sentAt, time.GetUtcNow(), client, operation, key, attempt, 0,
                $"{e.GetType().Name}: {e.Message}", null, false));
            return 0;
        }
    }

    /// <summary>Reads random acknowledged jobs; the first finished state seen of each must never change.</summary>
    private async Task ObserveAsync(Random random, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), time, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var known = _acknowledged.ToArray();
            if (known.Length == 0)
            {
                continue;
            }

            await ObserveOneAsync(known[random.Next(known.Length)]);
        }
    }

    public async Task ObserveOneAsync(string jobId)
    {
        try
        {
            using var cts = new CancellationTokenSource(RequestTimeout);
            var job = await reader.GetAsync(jobId, cts.Token);
            if (job is null || !job.IsFinal)
            {
                return;
            }

            var seen = new FinalObservation(job.Status, job.Result?.Text, job.CompletedAt, job.Attempts);
            var first = history.Observed.GetOrAdd(jobId, seen);
            if (first != seen)
            {
                history.ObservationConflicts.Enqueue(
                    $"{jobId}: first seen {Describe(first)}, later {Describe(seen)}");
            }
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException or JsonException or OrchestratorProblemException)
        {
            // The API is restarting (or Redis is away: 503); observe another time.
        }
    }

    public static string Describe(FinalObservation o) =>
        $"{o.Status} at {o.CompletedAt?.ToString("O", CultureInfo.InvariantCulture)} after {o.Attempts} attempt(s)";

    private const int PoisonJobSpacing = 10;

    /// <summary>A job with a simulated behaviour drawn from a fixed mix, so both final states occur.</summary>
    private string NewBody(Random random, int client, int sequence, bool poison)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["chaos.client"] = client.ToString(CultureInfo.InvariantCulture),
        };
        double roll;
        int latency, failFirst;
        lock (random)
        {
            roll = random.NextDouble();
            latency = random.Next(20, 400);
            failFirst = random.Next(1, 4);
        }

        metadata["simulator.latencyMs"] = latency.ToString(CultureInfo.InvariantCulture);
        if (!poison && options.PoisonRate > 0)
        {
            lock (random)
            {
                poison = random.NextDouble() < options.PoisonRate;
            }
        }

        if (poison)
        {
            // The worker that starts this job dies (Simulator:AllowCrashHint): it must end failed/poison-job.
            metadata[PoisonJobs.CrashHint] = "true";
            return JsonSerializer.Serialize(new SubmitBody($"chaos poison job {client}-{sequence}", metadata), ChaosJsonContext.Default.SubmitBody);
        }

        switch (roll)
        {
            case < 0.40:
                metadata["simulator.failureRate"] = "0";
                break;
            case < 0.65:
                metadata["simulator.failureRate"] = "0.3";
                break;
            case < 0.75:
                metadata["simulator.failureRate"] = "0.7";
                break;
            case < 0.85:
                metadata["simulator.failFirstAttempts"] = failFirst.ToString(CultureInfo.InvariantCulture);
                break;
            case < 0.90:
                metadata["simulator.failFirstAttempts"] = options.MaxAttempts.ToString(CultureInfo.InvariantCulture);
                break;
            default:
                metadata["simulator.permanentFailure"] = "true";
                break;
        }

        return JsonSerializer.Serialize(new SubmitBody($"chaos job {client}-{sequence}: summarise the state of distributed queues", metadata),
            ChaosJsonContext.Default.SubmitBody);
    }

    private enum Mode
    {
        Unkeyed,
        Keyed,
        ResendLater,
        Concurrent,
    }
}
