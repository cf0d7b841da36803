namespace Orchestrator.Worker.Llm;

/// <summary>
/// Per-job controls of the simulated LLM, read from the job's <c>metadata</c>, so one run can mix
/// behaviours (tests, benchmarks, the chaos run). A real provider ignores them.
/// </summary>
public static class SimulatorHints
{
    /// <summary>Overrides <c>Simulator:FailureRate</c> for this job (0 to 1).</summary>
    public const string FailureRate = "simulator.failureRate";

    /// <summary>The first N attempts of this job fail transiently; later ones succeed.</summary>
    public const string FailFirstAttempts = "simulator.failFirstAttempts";

    /// <summary>"true": every attempt fails with a permanent error.</summary>
    public const string PermanentFailure = "simulator.permanentFailure";

    /// <summary>
    /// "true": the worker process dies abruptly when an attempt of this job starts, as a job that
    /// crashes its worker would (a poison job). Obeyed only with <c>Simulator:AllowCrashHint</c>.
    /// </summary>
    public const string CrashProcess = "simulator.crashProcess";

    /// <summary>Overrides <c>Simulator:Latency</c> for this job, in milliseconds.</summary>
    public const string LatencyMs = "simulator.latencyMs";

    /// <summary>The ChatOptions property carrying the job's metadata to the chat client.</summary>
    public const string MetadataProperty = "orchestrator.metadata";

    /// <summary>The ChatOptions property carrying the attempt number to the chat client.</summary>
    public const string AttemptProperty = "orchestrator.attempt";
}
