using System.Diagnostics;
using System.Globalization;
using System.Net;
using Orchestrator.Benchmarks.Infrastructure;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S1: the real API (Release build, its own process, Kestrel on loopback) takes 20,000
/// <c>POST /jobs</c> from 64 concurrent clients. A warm-up of 2,000 requests runs first (JIT,
/// connection pool), unmeasured.
/// </summary>
internal sealed class EnqueueOverHttp : IScenario
{
    public const int Jobs = 20_000;
    public const int WarmUp = 2_000;
    public const int InFlight = 64;

    public string Id => "S1";

    public string Description => $"POST /jobs ×{Jobs:N0} over HTTP, {InFlight} in flight";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        var port = FreePort.Next();
        await using var api = ServiceProcess.Start(context.ApiAssembly, new Dictionary<string, string>
        {
            ["ConnectionStrings__redis"] = context.Redis.ConnectionString,
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
        });
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = InFlight, UseProxy = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"),
        };
        await WaitUntilAliveAsync(client, api);

        await PostManyAsync(client, WarmUp, null);
        var latencies = new double[Jobs];
        var stopwatch = Stopwatch.StartNew();
        var failures = await PostManyAsync(client, Jobs, latencies);
        var rate = Jobs / stopwatch.Elapsed.TotalSeconds;

        var enqueued = await context.UnfinishedAsync();
        return
        [
            new ScenarioResult(Id, "http", rate, Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.Enqueue,
                Checks: new Dictionary<string, double>
                {
                    ["non_202"] = failures,
                    ["missing_entries"] = WarmUp + Jobs - failures - enqueued,
                }),
        ];
    }

    private static async Task<int> PostManyAsync(HttpClient client, int count, double[]? latencies)
    {
        var body = "{\"prompt\":\"Summarise the benchmark in one sentence.\",\"maxTokens\":64}"u8.ToArray();
        var next = -1;
        var failures = 0;
        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var started = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new("application/json");
                using var response = await client.PostAsync("/jobs", content);
                await response.Content.LoadIntoBufferAsync();
                if (latencies is not null)
                {
                    latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (response.StatusCode != HttpStatusCode.Accepted)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        return failures;
    }

    private static async Task WaitUntilAliveAsync(HttpClient client, ServiceProcess api)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (api.HasExited)
            {
                throw new InvalidOperationException($"The API exited:{Environment.NewLine}{api.Tail()}");
            }

            try
            {
                using var response = await client.GetAsync("/alive");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The API did not answer /alive within 60 s:{Environment.NewLine}{api.Tail()}");
    }
}
