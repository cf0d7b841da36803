using System.Diagnostics.Metrics;

namespace Orchestrator.ServiceDefaults;

/// <summary>
/// The <c>orchestrator.*</c> instruments, on the one <see cref="OrchestratorTelemetry.MeterName"/>
/// meter. The API records submissions and the cancels of waiting jobs; the Worker records attempts, outcomes, durations and webhook tries.
/// </summary>
public sealed class OrchestratorMetrics
{
    /// <summary>
    /// The bucket boundaries of the histograms in seconds, from a fast call's 5 ms to an hour's wait.
    /// Without them the SDK used its millisecond defaults (0, 5, 10, 25 … 10,000) for these too, and
    /// every latency under 5 s fell into one bucket: no percentile could be read.
    /// </summary>
    public static readonly IReadOnlyList<double> SecondsBuckets =
        [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

    private static readonly InstrumentAdvice<double> Seconds = new() { HistogramBucketBoundaries = SecondsBuckets };

    public OrchestratorMetrics(IMeterFactory meterFactory)
    {
        Meter = meterFactory.Create(OrchestratorTelemetry.MeterName);
        JobsSubmitted = Meter.CreateCounter<long>("orchestrator.jobs.submitted", "{job}", "Jobs accepted by POST /jobs (replays excluded).");
        IdempotentReplays = Meter.CreateCounter<long>("orchestrator.jobs.idempotent_replays", "{request}", "Submissions answered from an idempotency key without creating a job.");
        QuotaRefusals = Meter.CreateCounter<long>("orchestrator.jobs.quota_refusals", "{request}", "Submissions refused (429) by a tenant quota, by quota (tag orchestrator.quota).");
        Attempts = Meter.CreateCounter<long>("orchestrator.attempts", "{attempt}", "LLM attempts, by outcome (tag orchestrator.attempt.outcome).");
        JobsCompleted = Meter.CreateCounter<long>("orchestrator.jobs.completed", "{job}", "Jobs that reached 'completed'.");
        JobsDeadLettered = Meter.CreateCounter<long>("orchestrator.jobs.dead_lettered", "{job}", "Jobs that reached 'failed' and were dead-lettered.");
        JobsCanceled = Meter.CreateCounter<long>("orchestrator.jobs.canceled", "{job}", "Jobs that reached 'canceled' (by the API for a waiting job, by the Worker for a running one).");
        JobsReclaimed = Meter.CreateCounter<long>("orchestrator.jobs.reclaimed", "{job}", "Jobs taken over from a worker whose lease lapsed.");
        LoopFaults = Meter.CreateCounter<long>("orchestrator.worker.loop.faults", "{fault}", "Exceptions a worker loop met and survived, by loop (tag orchestrator.worker.loop).");
        AttemptDuration = Meter.CreateHistogram<double>("orchestrator.attempt.duration", "s", "Duration of one LLM attempt.", tags: null, Seconds);
        QueueWait = Meter.CreateHistogram<double>("orchestrator.job.queue_wait", "s", "From submission to the start of the first attempt.", tags: null, Seconds);
        EndToEnd = Meter.CreateHistogram<double>("orchestrator.job.duration", "s", "From submission to the final state.", tags: null, Seconds);
        LlmTokens = Meter.CreateCounter<long>("orchestrator.llm.tokens", "{token}", "Tokens the LLM counted, by model (gen_ai.request.model) and gen_ai.token.type (input, output).");
        LlmCost = Meter.CreateCounter<double>("orchestrator.llm.cost", "{currency}", "Cost of LLM calls from the configured prices, by model (gen_ai.request.model).");
        WebhookDeliveries = Meter.CreateCounter<long>("orchestrator.webhooks.deliveries", "{try}",
            "Webhook tries recorded, by outcome (tag orchestrator.webhook.outcome: delivered, retry, failed = given up).");
    }

    /// <summary>Counts one answered call's tokens and cost under its model and the job's tenant.</summary>
    public void RecordLlmUsage(string model, string tenant, long inputTokens, long outputTokens, decimal cost)
    {
        var modelTag = new KeyValuePair<string, object?>("gen_ai.request.model", model);
        var tenantTag = new KeyValuePair<string, object?>(OrchestratorTags.Tenant, tenant);
        LlmTokens.Add(inputTokens, modelTag, tenantTag, new("gen_ai.token.type", "input"));
        LlmTokens.Add(outputTokens, modelTag, tenantTag, new("gen_ai.token.type", "output"));
        LlmCost.Add((double)cost, modelTag, tenantTag);
    }

    /// <summary>The meter, for observable instruments a process adds (the Worker's queue gauges).</summary>
    public Meter Meter { get; }

    public Counter<long> JobsSubmitted { get; }
    public Counter<long> IdempotentReplays { get; }
    public Counter<long> QuotaRefusals { get; }
    public Counter<long> Attempts { get; }
    public Counter<long> JobsCompleted { get; }
    public Counter<long> JobsDeadLettered { get; }
    public Counter<long> JobsCanceled { get; }
    public Counter<long> JobsReclaimed { get; }
    public Counter<long> LoopFaults { get; }
    public Histogram<double> AttemptDuration { get; }
    public Histogram<double> QueueWait { get; }
    public Histogram<double> EndToEnd { get; }
    public Counter<long> LlmTokens { get; }
    public Counter<double> LlmCost { get; }
    public Counter<long> WebhookDeliveries { get; }
}
