using Orchestrator.Testing;
using System.Diagnostics;

namespace Orchestrator.Chaos;

/// <summary>The faults, one at a time at random intervals, drawn from a shuffled deck so every kind recurs.</summary>
internal sealed class FaultInjector(ChaosOptions options, RedisServer redis, ServiceCluster cluster, Action<string> log, TimeProvider time)
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public int WorkerKills { get; private set; }

    public int WorkerPauses { get; private set; }

    public int ApiRestarts { get; private set; }

    public int RedisRestarts { get; private set; }

    /// <summary>When Redis was SIGKILLed (only with <c>--redis-sigkill</c>): writes in the second before may be gone.</summary>
    public List<DateTimeOffset> RedisKills { get; } = [];

    public async Task RunAsync(Random random, CancellationToken stop)
    {
        var deck = new Queue<Fault>();
        var started = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            var pause = options.FaultInterval * (0.5 + random.NextDouble());
            try
            {
                await Task.Delay(pause, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            if (deck.Count == 0)
            {
                foreach (var fault in Enum.GetValues<Fault>().OrderBy(_ => random.Next()))
                {
                    deck.Enqueue(fault);
                }
            }

            var next = deck.Dequeue();
            var at = started.Elapsed;
            await InjectAsync(next, random);
            log($"[{at.TotalSeconds,6:0.0}s] {next} ({(started.Elapsed - at).TotalSeconds:0.0} s)");
        }
    }

    private async Task InjectAsync(Fault fault, Random random)
    {
        var workers = cluster.Workers.Where(w => !w.HasExited).ToList();
        switch (fault)
        {
            case Fault.KillWorker when workers.Count > 0:
                await cluster.ReplaceWorkerAsync(workers[random.Next(workers.Count)]);
                WorkerKills++;
                break;

            case Fault.PauseWorker when workers.Count > 0:
                // Longer than the lease: the others reclaim its jobs; on SIGCONT it is a stale worker
                // whose writes must all be fenced off.
                var worker = workers[random.Next(workers.Count)];
                worker.Pause();
                await Task.Delay(options.LeaseTimeout + TimeSpan.FromSeconds(1 + random.NextDouble() * 2));
                worker.Resume();
                WorkerPauses++;
                break;

            case Fault.RestartApi:
                await cluster.RestartApiAsync(kill: random.Next(2) == 0, ReadyTimeout);
                ApiRestarts++;
                break;

            case Fault.RestartRedis:
                if (options.RedisSigkill && random.Next(2) == 0)
                {
                    RedisKills.Add(time.GetUtcNow());
                    await redis.KillAsync();
                }
                else if (random.Next(2) == 0)
                {
                    await redis.StopAsync();
                }
                else
                {
                    await redis.TerminateAsync();
                }

                // Down for a moment: clients see 503s and connection errors, workers back off.
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 2000)));
                await redis.StartAsync();
                RedisRestarts++;
                break;
        }
    }

    private enum Fault
    {
        KillWorker,
        PauseWorker,
        RestartApi,
        RestartRedis,
    }
}
