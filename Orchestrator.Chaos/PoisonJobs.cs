namespace Orchestrator.Chaos;

/// <summary>Jobs that kill the worker that starts them (the simulator's crash hint), and what must become of them.</summary>
internal static class PoisonJobs
{
    /// <summary>The metadata key the simulated LLM honours when <c>Simulator:AllowCrashHint</c> is true.</summary>
    public const string CrashHint = "simulator.crashProcess";

    /// <summary>
    /// What a worker writes as it dies of a crash-hint job (the simulator's <c>Environment.FailFast</c>
    /// message): proof of such a death even when the job's entry was reclaimed before the run looked.
    /// </summary>
    public const string DeathMessage = "simulator.crashProcess: this job crashes its worker";

    /// <summary>The error type a poison job ends with.</summary>
    public const string ErrorType = "poison-job";

    public static bool IsPoison(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(CrashHint, out var hint) && hint == "true";
}
