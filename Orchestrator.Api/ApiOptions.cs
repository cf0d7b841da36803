using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Api;

/// <summary>The API's limits and retention, bound from the <c>Api</c> section and validated at start.</summary>
public sealed class ApiOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Api";

    /// <summary>Longest accepted prompt, in characters (Unicode scalar values: an emoji is one). Default 100,000.</summary>
    [Range(1, 10_000_000)]
    public int MaxPromptLength { get; set; } = 100_000;

    /// <summary>Largest accepted request body, in bytes; larger bodies get 413 (Kestrel enforces it while reading). Default 1 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxRequestBodySize { get; set; } = 1024 * 1024;

    /// <summary>
    /// The backlog bound: how many jobs may be not yet final (queued, processing or waiting for a
    /// retry) before <c>POST /jobs</c> answers 429. Checked atomically with the write. Default 100,000.
    /// </summary>
    [Range(1, 100_000_000)]
    public int MaxQueuedJobs { get; set; } = 100_000;

    /// <summary>
    /// Largest total size of a job's <c>metadata</c>, in bytes as stored: its compact JSON in UTF-8,
    /// characters outside ASCII, controls and <c>" &amp; ' + &lt; &gt; `</c> escaped (<c>\uXXXX</c>, 6 bytes each).
    /// Larger metadata gets 400.
    /// Default 16 KiB (16,384).
    /// </summary>
    [Range(64, 1024 * 1024)]
    public int MaxMetadataBytes { get; set; } = 16 * 1024;

    /// <summary>
    /// Largest <c>GET /dead-letters</c> page, in bytes of its items' JSON: items stop being added
    /// before one would pass it (the first is always included) and <c>nextCursor</c> continues from
    /// there. Default 1 MiB.
    /// </summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxDeadLetterPageBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Largest <c>GET /jobs</c> page, in bytes of its items' JSON, as <see cref="MaxDeadLetterPageBytes"/>
    /// bounds a dead letters' page: 100 jobs of a megabyte each made one page of 120 MB, held in the
    /// API's memory for as long as its client took to read it. Default 1 MiB.
    /// </summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxJobsPageBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Most attempts a job may have run, in all, and still be redriven: each run adds its attempts to
    /// the job's history and an event to its events, kept with the job, so a job redriven again and
    /// again grew them without bound. A job at the bound is submitted again as a new job. Default 1,000.
    /// </summary>
    [Range(1, 100_000)]
    public int MaxAttemptsInAll { get; set; } = 1_000;

    /// <summary>
    /// Most requests one API process holds open waiting on jobs: <c>GET /jobs/{id}?wait=</c>,
    /// <c>GET /jobs/{id}/events</c> and a cancel waiting for its job to stop. One more gets 503 with
    /// <c>Retry-After</c>. Each costs a few hundred bytes and no Redis connection (one subscription
    /// serves them all). Default 20,000.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxConcurrentWaits { get; set; } = 20_000;

    /// <summary>
    /// Most of <see cref="MaxConcurrentWaits"/> one tenant's keys may hold in one API process, so one
    /// tenant's waits cannot take every place from the others: one more of that tenant's gets 429
    /// <c>quota-exceeded</c> with <c>Retry-After</c> (a cancel answers at once without waiting). An
    /// admin key's waits count towards <see cref="MaxConcurrentWaits"/> only. Default unset (a tenant
    /// may take every place).
    /// </summary>
    [Range(1, 1_000_000)]
    public int? MaxConcurrentWaitsPerTenant { get; set; }

    /// <summary>
    /// Reads (<c>GET</c> and <c>HEAD</c> of the endpoints that take a key) one tenant's keys may make
    /// per second on one API process: a token bucket holding one second's worth. One more gets 429
    /// <c>quota-exceeded</c> with <c>Retry-After</c>; submissions and other writes are not counted
    /// (<c>Tenants:{tenant}:RequestsPerMinute</c> counts submissions), nor are admin keys' reads.
    /// Default unset (unlimited).
    /// </summary>
    [Range(1, 1_000_000)]
    public int? ReadsPerSecondPerTenant { get; set; }

    /// <summary>
    /// How long <c>POST /jobs/{id}/cancel</c> of a processing job waits for its worker to stop it
    /// before answering 202 (the job is then still processing; it becomes canceled shortly). Default 3 s.
    /// </summary>
    public TimeSpan CancelWait { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a request body (<c>POST /jobs</c>, the filtered redrive) may take to arrive in all
    /// before a 408. Default 30 s. Kestrel's minimum data rate alone is an average since the first
    /// byte: a client that sent most of 1 MiB and stopped was held, with its buffer, for an hour.
    /// </summary>
    public TimeSpan RequestBodyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long an event stream's write may wait for its client to take it before the connection is
    /// closed (the client resumes with <c>Last-Event-ID</c>). Default 60 s. Kestrel's minimum response
    /// rate alone is an average: a client that stopped reading held what was written to it (a final
    /// job's 'done' carries its result) for an hour.
    /// </summary>
    public TimeSpan EventStreamWriteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long an idempotency key is remembered. Default 24 h.</summary>
    public TimeSpan IdempotencyKeyTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long a job is kept after it reaches a final state. Default 7 days.</summary>
    public TimeSpan JobRetention { get; set; } = TimeSpan.FromDays(7);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IdempotencyKeyTtl < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Api:IdempotencyKeyTtl must be at least 00:00:01.", [nameof(IdempotencyKeyTtl)]);
        }

        if (JobRetention < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Api:JobRetention must be at least 00:00:01.", [nameof(JobRetention)]);
        }
        else if (JobRetention < IdempotencyKeyTtl)
        {
            // The key outlives no job it names: a replay answered 202 for a job already expired (404).
            yield return new ValidationResult(
                $"Api:JobRetention must be at least Api:IdempotencyKeyTtl ({IdempotencyKeyTtl:c}): a replay of a key would answer for a job already expired.",
                [nameof(JobRetention)]);
        }

        if (CancelWait < TimeSpan.Zero || CancelWait > TimeSpan.FromSeconds(60))
        {
            yield return new ValidationResult("Api:CancelWait must be from 00:00:00 to 00:01:00.", [nameof(CancelWait)]);
        }

        if (RequestBodyTimeout < TimeSpan.FromSeconds(1) || RequestBodyTimeout > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult("Api:RequestBodyTimeout must be from 00:00:01 to 00:10:00.", [nameof(RequestBodyTimeout)]);
        }

        if (EventStreamWriteTimeout < TimeSpan.FromSeconds(1) || EventStreamWriteTimeout > TimeSpan.FromMinutes(10))
        {
            yield return new ValidationResult("Api:EventStreamWriteTimeout must be from 00:00:01 to 00:10:00.", [nameof(EventStreamWriteTimeout)]);
        }

        if (MaxRequestBodySize < MaxPromptLength)
        {
            yield return new ValidationResult("Api:MaxRequestBodySize must be at least Api:MaxPromptLength.", [nameof(MaxRequestBodySize)]);
        }
    }
}
