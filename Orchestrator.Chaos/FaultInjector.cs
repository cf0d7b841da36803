using System.Diagnostics;
using Orchestrator.Testing;
using StackExchange.Redis;

namespace Orchestrator.Chaos;

/// <summary>The faults, one at a time at random intervals, drawn from a shuffled deck so every kind recurs.</summary>
internal sealed class FaultInjector(ChaosOptions options, ChaosRedis target, ServiceCluster cluster, Action<string> log, TimeProvider time)
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public int WorkerKills { get; private set; }

    public int WorkerPauses { get; private set; }

    public int WorkerStops { get; private set; }

    public int ApiRestarts { get; private set; }

    public int RedisRestarts { get; private set; }

    public int Failovers { get; private set; }

    public int ClientPauses { get; private set; }

    public int MemoryLimits { get; private set; }

    public int MasterKills { get; private set; }

    private RedisServer Redis => target.Server ?? throw new InvalidOperationException("A single-Redis fault in a cluster run.");

    /// <summary>One line of counts, every kind of fault the run was asked for.</summary>
    public string Summary() => string.Join(", ", options.Faults.Order().Select(f => f switch
    {
        Fault.KillWorker => $"worker kills {WorkerKills}",
        Fault.PauseWorker => $"worker pauses {WorkerPauses}",
        Fault.StopWorker => $"worker stops {WorkerStops}",
        Fault.RestartApi => $"API restarts {ApiRestarts}",
        Fault.RestartRedis => $"Redis restarts {RedisRestarts}{(options.RedisSigkill ? $" (of them SIGKILL {RedisKills.Count})" : "")}",
        Fault.Failover => $"failovers {Failovers}",
        Fault.ClientPause => $"client pauses {ClientPauses}",
        Fault.KillMaster => $"master kills {MasterKills}",
        _ => $"memory limits {MemoryLimits}",
    }));

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
                foreach (var fault in options.Faults.Order().OrderBy(_ => random.Next()))
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

            case Fault.StopWorker when workers.Count > 0:
                await cluster.ReplaceWorkerAsync(workers[random.Next(workers.Count)], graceful: true);
                WorkerStops++;
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
                    await Redis.KillAsync();
                }
                else if (random.Next(2) == 0)
                {
                    await Redis.StopAsync();
                }
                else
                {
                    await Redis.TerminateAsync();
                }

                // Down for a moment: clients see 503s and connection errors, workers back off.
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 2000)));
                await Redis.StartAsync();
                RedisRestarts++;
                break;

            case Fault.Failover:
                // The node every client is on turns replica of a primary that does not answer (its
                // data stays: it never syncs), then primary again: blocked reads are unblocked with
                // UNBLOCKED, writes answer READONLY meanwhile.
                await AdminAsync(async db =>
                {
                    await db.ExecuteAsync("REPLICAOF", "127.0.0.1", LoopbackPort.Next());
                    await Task.Delay(TimeSpan.FromMilliseconds(2500));
                    await db.ExecuteAsync("REPLICAOF", "NO", "ONE");
                });
                Failovers++;
                break;

            case Fault.ClientPause:
                await AdminAsync(async db =>
                {
                    await db.ExecuteAsync("CLIENT", "PAUSE", 3000, "ALL");
                    await Task.Delay(TimeSpan.FromMilliseconds(3000));
                });
                ClientPauses++;
                break;

            case Fault.MemoryLimit:
                // Just above what Redis uses: the next few writes fill it, then every write is refused
                // with OOM (noeviction) until the limit is put back.
                await AdminAsync(async db =>
                {
                    var server = db.Multiplexer.GetServer(db.Multiplexer.GetEndPoints()[0]);
                    var before = (await server.ConfigGetAsync("maxmemory")).Single().Value;
                    var used = await db.UsedMemoryAsync();
                    await server.ConfigSetAsync("maxmemory", used + 32 * 1024);
                    try
                    {
                        await Task.Delay(TimeSpan.FromMilliseconds(random.Next(2000, 4000)));
                    }
                    finally
                    {
                        await server.ConfigSetAsync("maxmemory", before);
                    }
                });
                MemoryLimits++;
                break;

            case Fault.KillMaster:
                await KillMasterAsync(random);
                MasterKills++;
                break;
        }
    }

    // A master dies (SIGKILL: what it had not replicated is gone); its replica is elected within the
    // node timeout plus an election; the dead node is started again, as a supervisor would, and
    // rejoins as the new master's replica (until then Redis:WaitReplicas 1 refuses its partitions' submissions).
    private async Task KillMasterAsync(Random random)
    {
        var redisCluster = target.Cluster ?? throw new InvalidOperationException("kill-master needs a cluster.");
        var masters = await redisCluster.MastersAsync();
        var master = masters[random.Next(masters.Count)];
        RedisKey? served = null;
        foreach (var partition in target.Keys.All)
        {
            if (await redisCluster.MasterOfAsync(partition.Stream) == master)
            {
                served = partition.Stream;
                break;
            }
        }

        await redisCluster.KillAsync(master);
        var promoted = await redisCluster.WaitForFailoverAsync(served ?? target.Keys.Meta, master, TimeSpan.FromSeconds(60));
        log($"master :{master.Port} killed, :{promoted.Port} elected");
        await master.StartAsync();
        await redisCluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Runs <paramref name="fault"/> on a fresh admin connection (Redis may have restarted since the last fault).</summary>
    private async Task AdminAsync(Func<IDatabase, Task> fault)
    {
        await using var connection = await Redis.ConnectAsync("allowAdmin=true,abortConnect=false,connectTimeout=2000,syncTimeout=5000,asyncTimeout=5000");
        await fault(connection.GetDatabase());
    }
}
