namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// The CPU of named processes over a measured window, per job (<see cref="ProcessCpu"/> read at
/// both ends, reported as <c>&lt;name&gt;_cpu_us_per_job</c>): where a scenario's cost lands,
/// robust to a busy machine where rates are not.
/// </summary>
internal sealed class CpuPerJob
{
    private readonly (string Name, int Pid, TimeSpan? Before)[] _processes;

    private CpuPerJob((string Name, int Pid)[] processes) =>
        _processes = [.. processes.Select(p => (p.Name, p.Pid, ProcessCpu.Of(p.Pid)))];

    /// <summary>Starts the window for the given processes, each by the name its figure carries.</summary>
    public static CpuPerJob Start(params (string Name, int Pid)[] processes) => new(processes);

    /// <summary>Starts the window for the worker process <paramref name="workerPid"/> and the Redis process <paramref name="redisPid"/>.</summary>
    public static CpuPerJob Start(int workerPid, int redisPid) => Start(("worker", workerPid), ("redis", redisPid));

    /// <summary>Ends the window: <c>&lt;name&gt;_cpu_us_per_job</c> of each process over <paramref name="jobs"/>.</summary>
    public Dictionary<string, double> Stop(int jobs) => _processes.ToDictionary(
        p => $"{p.Name}_cpu_us_per_job",
        p => ((ProcessCpu.Of(p.Pid) - p.Before)?.TotalMicroseconds ?? double.NaN) / jobs);
}
