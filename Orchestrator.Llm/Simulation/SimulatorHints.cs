namespace Orchestrator.Llm.Simulation;

/// <summary>
/// Per-job controls of the simulated LLM, read from the job's <c>metadata</c>, so one run can mix
/// behaviours (tests, benchmarks, the chaos run). Over HTTP they travel in the request's OpenAI
/// <c>metadata</c> field (only when the job has a <c>simulator.*</c> key; see <see cref="Prefix"/>).
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

    /// <summary>Overrides <c>Simulator:TokensPerSecond</c> for this job (a number above 0): its answer streams at this pace.</summary>
    public const string TokensPerSecond = "simulator.tokensPerSecond";

    /// <summary>
    /// Forces one error kind: <c>rate_limit</c>, <c>insufficient_quota</c>, <c>invalid_request</c>,
    /// <c>context_length_exceeded</c>, <c>authentication</c>, <c>permission</c>, <c>model_not_found</c>,
    /// <c>server_error</c>.
    /// </summary>
    public const string Error = "simulator.error";

    /// <summary>The attempt number, sent with the hints so <see cref="FailFirstAttempts"/> works over HTTP.</summary>
    public const string Attempt = "simulator.attempt";

    /// <summary>The prefix of every hint; a job's metadata is sent to a provider only when it has one.</summary>
    public const string Prefix = "simulator.";

    /// <summary>The ChatOptions property carrying the job's metadata to the chat client.</summary>
    public const string MetadataProperty = "orchestrator.metadata";

    /// <summary>The ChatOptions property carrying the attempt number to the chat client.</summary>
    public const string AttemptProperty = "orchestrator.attempt";
}
