namespace Orchestrator.Jobs;

/// <summary>The status values of a job, exactly as clients see them and as the Lua scripts compare them.</summary>
public static class JobStatus
{
    /// <summary>Accepted and waiting for a worker.</summary>
    public const string Queued = "queued";

    /// <summary>A worker is running an attempt.</summary>
    public const string Processing = "processing";

    /// <summary>An attempt failed transiently; the next one starts at <c>nextAttemptAt</c>.</summary>
    public const string Retrying = "retrying";

    /// <summary>Terminal: the LLM answered and the result is stored.</summary>
    public const string Completed = "completed";

    /// <summary>Terminal: attempts exhausted or a permanent error; the job is dead-lettered.</summary>
    public const string Failed = "failed";

    /// <summary>Terminal: a client canceled the job (<c>POST /jobs/{id}/cancel</c>); not a dead letter.</summary>
    public const string Canceled = "canceled";

    /// <summary>Every status, in the order a job meets them.</summary>
    public static readonly IReadOnlyList<string> All = [Queued, Processing, Retrying, Completed, Failed, Canceled];

    /// <summary>Whether <paramref name="status"/> is a final state.</summary>
    public static bool IsTerminal(string status) => status is Completed or Failed or Canceled;
}
