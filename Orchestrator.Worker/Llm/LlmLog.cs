namespace Orchestrator.Worker.Llm;

/// <summary>
/// Log lines of the LLM-call layer. A line about one job's call carries its JobId and Attempt; the
/// flow-control bookkeeping lines (settle, renewal) are about the deployment and carry neither.
/// </summary>
internal static partial class LlmLog
{
    [LoggerMessage(EventId = 200, Level = LogLevel.Information,
        Message = "Deployment {Provider} answered 429 for {Model} (job {JobId} attempt {Attempt}): every worker pauses it for {Cooldown}")]
    public static partial void RateLimited(ILogger logger, string provider, string model, string jobId, int attempt, TimeSpan cooldown);

    [LoggerMessage(EventId = 201, Level = LogLevel.Debug,
        Message = "Job {JobId} attempt {Attempt} skips {Model}: the circuit of deployment {Provider} is open for {OpenFor}")]
    public static partial void CircuitOpenSkipped(ILogger logger, string jobId, int attempt, string model, string provider, TimeSpan openFor);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information,
        Message = "The probe of deployment {Provider}'s open circuit failed ({Error}); job {JobId} attempt {Attempt} goes to its next model, or waits without spending the attempt")]
    public static partial void ProbeFailed(ILogger logger, string provider, string error, string jobId, int attempt);

    [LoggerMessage(EventId = 206, Level = LogLevel.Warning,
        Message = "An answer of model {Model} (deployment {Provider}) for job {JobId} attempt {Attempt} reached Llm:MaxAnswerLength ({MaxLength} characters): cut there, finish reason 'length'")]
    public static partial void AnswerCut(ILogger logger, string model, string provider, int maxLength, string jobId, int attempt);

    [LoggerMessage(EventId = 204, Level = LogLevel.Information,
        Message = "A 429 paused deployment {Provider} for {Cooldown} after this call's reservation: job {JobId} attempt {Attempt} waits instead of going out")]
    public static partial void CooldownAtSend(ILogger logger, string provider, TimeSpan cooldown, string jobId, int attempt);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning,
        Message = "Flow control of deployment {Provider} could not be settled or renewed in Redis")]
    public static partial void SettleFailed(ILogger logger, string provider, Exception exception);

    [LoggerMessage(EventId = 207, Level = LogLevel.Warning,
        Message = "Flow control of deployment {Provider} could not be settled in Redis: it did not answer for {Waited}")]
    public static partial void SettleAbandoned(ILogger logger, string provider, TimeSpan waited);

    [LoggerMessage(EventId = 205, Level = LogLevel.Debug,
        Message = "Renewing the clear reading of deployment {Provider} failed; it lapses and the next call reserves")]
    public static partial void RenewalFailed(ILogger logger, string provider, Exception exception);
}
