using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S1: the real API (Release build, its own process, Kestrel on loopback) takes 20,000
/// <c>POST /jobs</c> from 64 concurrent clients: 64 keep-alive HTTP/1.1 connections, one request in
/// flight on each, sent by <see cref="LeanHttpConnection"/> (HttpClient cost the shared cores about
/// 20 µs of CPU per request, taken from the API being measured). A warm-up of 2,000 requests runs
/// first (JIT, connections), unmeasured. The same client then measures two floors (see
/// <see cref="HttpFloor"/>): Kestrel doing only HTTP, and HTTP plus one XADD per request.
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
        var port = LoopbackPort.Next();
        ScenarioResult api;
        await using (var server = BenchmarkProcess.Start(context.ApiAssembly, BenchmarkContext.WithOverrides(new Dictionary<string, string>
        {
            ["ConnectionStrings__redis"] = context.Redis.ConnectionString,
            ["ASPNETCORE_URLS"] = Url(port),
            // The load generator sends no API key (ORCHESTRATOR_BENCH_API_Auth__AllowAnonymous=false
            // with a configured key would measure the key check too).
            ["Auth__AllowAnonymous"] = "true",
        }, BenchmarkContext.ApiOverridePrefix)))
        {
            api = await MeasureAsync(context, server, port, "http", "api");
        }

        var enqueued = await context.UnfinishedAsync();
        api = api with { Checks = new Dictionary<string, double>(api.Checks!) { ["missing_entries"] = WarmUp + Jobs - api.Checks!["non_202"] - enqueued } };

        // The floors: the same client against Kestrel doing only HTTP, then HTTP and one XADD, with the API's runtime settings.
        var results = new List<ScenarioResult> { api };
        foreach (var (variant, redis) in new[] { ("http-floor", null), ("http-floor+xadd", context.Redis.ConnectionString) })
        {
            var environment = new Dictionary<string, string>
            {
                ["ASPNETCORE_URLS"] = Url(port = LoopbackPort.Next()),
                ["DOTNET_gcServer"] = "1",
                ["DOTNET_TieredPGO"] = "0",
            };
            if (redis is not null)
            {
                environment[HttpFloor.RedisVariable] = redis;
            }

            await using var floor = BenchmarkProcess.Start(typeof(HttpFloor).Assembly.Location, environment, HttpFloor.Argument);
            results.Add(await MeasureAsync(context, floor, port, variant, "server"));
        }

        return results;
    }

    private static string Url(int port) => $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";

    private static async Task<ScenarioResult> MeasureAsync(BenchmarkContext context, ChildProcess server, int port, string variant, string serverName)
    {
        using (var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(Url(port)) })
        {
            await WaitUntilAliveAsync(client, server);
        }

        var request = EncodeRequest(port);
        await using var connections = await LeanHttpConnections.OpenAsync(port, InFlight);
        await PostManyAsync(connections, request, WarmUp, null);
        var latencies = new double[Jobs];
        // Where a request's CPU goes: all three processes share the machine's cores.
        var cpu = CpuPerJob.Start((serverName, server.Pid), ("redis", context.Redis.ProcessId), ("client", Environment.ProcessId));
        var stopwatch = Stopwatch.StartNew();
        var failures = await PostManyAsync(connections, request, Jobs, latencies);
        var rate = Jobs / stopwatch.Elapsed.TotalSeconds;
        return new ScenarioResult("S1", variant, rate, Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.Enqueue,
            Extras: cpu.Stop(Jobs),
            Checks: new Dictionary<string, double> { ["non_202"] = failures });
    }

    private static async Task<int> PostManyAsync(LeanHttpConnections connections, ReadOnlyMemory<byte> request, int count, double[]? latencies)
    {
        var next = -1;
        var failures = 0;
        // One request in flight per keep-alive connection, as a browser or HttpClient pool would.
        await Task.WhenAll(connections.All.Select(async connection =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var started = Stopwatch.GetTimestamp();
                var status = await connection.SendAsync(request);
                if (latencies is not null)
                {
                    latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                if (status != (int)HttpStatusCode.Accepted)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }));
        return failures;
    }

    private static byte[] EncodeRequest(int port)
    {
        var body = "{\"prompt\":\"Summarise the benchmark in one sentence.\",\"maxTokens\":64}"u8;
        var head = Encoding.ASCII.GetBytes(
            $"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}\r\n" +
            $"Content-Type: application/json\r\nContent-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\n\r\n");
        return [.. head, .. body];
    }

    private static async Task WaitUntilAliveAsync(HttpClient client, ChildProcess server)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"The server exited:{Environment.NewLine}{server.Tail()}");
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

        throw new TimeoutException($"The server did not answer /alive within 60 s:{Environment.NewLine}{server.Tail()}");
    }
}
