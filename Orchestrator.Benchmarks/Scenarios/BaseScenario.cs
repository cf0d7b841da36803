using System.Diagnostics;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// The ceiling on this machine: a bare StackExchange.Redis loop doing the minimum round trips per job.
/// Enqueue: one XADD per job, 64 in flight. Drain: one XREADGROUP COUNT 64 per batch, then HSET +
/// XACK per job, pipelined, one batch at a time. Best of three rounds.
/// </summary>
internal sealed class BaseScenario : IScenario
{
    public const int Jobs = 20_000;
    public const int InFlight = 64;
    public const int BatchSize = 64;

    public string Id => "BASE";

    public string Description => $"bare SE.Redis: XADD ×{Jobs:N0} ({InFlight} in flight); XREADGROUP COUNT {BatchSize} + HSET + XACK, pipelined";

    /// <summary>
    /// The ceiling is the best of three short rounds: one round takes well under a second, so on a
    /// shared machine a single round measures the neighbours as much as Redis.
    /// </summary>
    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        var rounds = new List<IReadOnlyList<ScenarioResult>>();
        for (var i = 0; i < 3; i++)
        {
            rounds.Add(await RunOnceAsync(context));
        }

        return [rounds.MaxBy(r => r[0].JobsPerSecond)![0], rounds.MaxBy(r => r[1].JobsPerSecond)![1]];
    }

    private async Task<IReadOnlyList<ScenarioResult>> RunOnceAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        var db = context.Db;
        var stream = context.Keys.Stream;

        var latencies = new double[Jobs];
        var next = -1;
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < Jobs)
            {
                var started = Stopwatch.GetTimestamp();
                await db.StreamAddAsync(stream, "jobId", JobIds.New());
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }));
        var enqueueRate = Jobs / stopwatch.Elapsed.TotalSeconds;

        await db.ExecuteAsync("XGROUP", "CREATE", stream, RedisKeys.ConsumerGroup, "0");
        var drained = 0;
        stopwatch.Restart();
        while (true)
        {
            var entries = await db.StreamReadGroupAsync(stream, RedisKeys.ConsumerGroup, "base", ">", BatchSize);
            if (entries.Length == 0)
            {
                break;
            }

            var batch = db.CreateBatch();
            var writes = new List<Task>(entries.Length * 2);
            foreach (var entry in entries)
            {
                writes.Add(batch.HashSetAsync(context.Keys.Job((string)entry["jobId"]!), "status", "completed"));
                writes.Add(batch.StreamAcknowledgeAsync(stream, RedisKeys.ConsumerGroup, entry.Id));
            }

            batch.Execute();
            await Task.WhenAll(writes);
            drained += entries.Length;
        }

        var drainRate = drained / stopwatch.Elapsed.TotalSeconds;
        return
        [
            new ScenarioResult(Id, "enqueue", enqueueRate, Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.Enqueue),
            new ScenarioResult(Id, "drain", drainRate, null, null, Baseline.Drain),
        ];
    }
}
