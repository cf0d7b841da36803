namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// The worker's and Redis's CPU over a measured window, per job (<see cref="ProcessCpu"/> read at
/// both ends): where a scenario's cost lands, robust to a busy machine where rates are not.
/// </summary>
internal sealed class CpuPerJob
{
    private readonly int _worker;
    private readonly int _redis;
    private readonly TimeSpan? _workerBefore;
    private readonly TimeSpan? _redisBefore;

    private CpuPerJob(int worker, int redis)
    {
        (_worker, _redis) = (worker, redis);
        (_workerBefore, _redisBefore) = (ProcessCpu.Of(worker), ProcessCpu.Of(redis));
    }

    /// <summary>Starts the window for the worker process <paramref name="workerPid"/> and the Redis process <paramref name="redisPid"/>.</summary>
    public static CpuPerJob Start(int workerPid, int redisPid) => new(workerPid, redisPid);

    /// <summary>Ends the window: <c>worker_cpu_us_per_job</c> and <c>redis_cpu_us_per_job</c> over <paramref name="jobs"/>.</summary>
    public Dictionary<string, double> Stop(int jobs) => new()
    {
        ["worker_cpu_us_per_job"] = ((ProcessCpu.Of(_worker) - _workerBefore)?.TotalMicroseconds ?? double.NaN) / jobs,
        ["redis_cpu_us_per_job"] = ((ProcessCpu.Of(_redis) - _redisBefore)?.TotalMicroseconds ?? double.NaN) / jobs,
    };
}
