using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Orchestrator.Client;

/// <summary>
/// A typed client for the Orchestrator API. Submissions always carry an idempotency key (the caller's,
/// or a new one), so re-sending one after a 503, a timeout or a lost connection never makes a
/// second job: this client owns those re-sends (one Polly pipeline), honouring <c>Retry-After</c>.
/// </summary>
public sealed partial class OrchestratorClient
{
    private const string IdempotencyKeyHeader = "Idempotency-Key";
    private readonly HttpClient _http;
    private readonly OrchestratorClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<HttpResponseMessage> _submitPipeline;
    private readonly System.Net.Http.Headers.AuthenticationHeaderValue? _authorization;

    /// <summary>A client over <paramref name="http"/>, whose <see cref="HttpClient.BaseAddress"/> is the API's address.</summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="http"/> has no <c>http</c>/<c>https</c> base address (or one with a path not ending in <c>/</c>), or <see cref="OrchestratorClientOptions.ApiKey"/>
    /// is not printable ASCII without spaces (a header <see cref="HttpClient"/> cannot send: it would fail every call),
    /// or another of the options is out of its range (each names its range).
    /// </exception>
    public OrchestratorClient(HttpClient http, OrchestratorClientOptions? options = null, TimeProvider? timeProvider = null)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        OrchestratorAddress.Check(http.BaseAddress, nameof(http));
        if (http.BaseAddress!.AbsolutePath is { Length: > 1 } path && !path.EndsWith('/'))
        {
            // Requests are relative ("jobs/{id}"): against "http://host/prefix" they went to "http://host/jobs/{id}".
            throw new ArgumentException(
                $"The HttpClient's base address has a path that does not end in '/' ('{http.BaseAddress}'): end it with '/', or requests leave out its last segment.", nameof(http));
        }
        _options = options ?? new OrchestratorClientOptions();
        _options.Check();
        _time = timeProvider ?? TimeProvider.System;
        if (_options.ApiKey is { Length: > 0 } apiKey)
        {
            if (!apiKey.All(static c => c is > ' ' and <= '~'))
            {
                throw new ArgumentException("An API key is printable ASCII characters (0x21 to 0x7E), with no spaces.", nameof(options));
            }

            // Sent with each request, not set on the HttpClient: clients with different keys may share one.
            _authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
        }

        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time };
        if (_options.MaxSubmitRetries > 0)
        {
            pipeline.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = _options.MaxSubmitRetries,
                BackoffType = DelayBackoffType.Exponential,
                Delay = _options.SubmitRetryDelay,
                UseJitter = true,
                // A timeout or a lost connection may have created the job: the same key makes the re-send answer for it.
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome switch
                {
                    { Result.StatusCode: HttpStatusCode.ServiceUnavailable } => true,
                    { Exception: HttpRequestException or TimeoutRejectedException } => true,
                    { Exception: OperationCanceledException } => !args.Context.CancellationToken.IsCancellationRequested,
                    _ => false,
                }),
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result, _time)),
            });
        }

        _submitPipeline = pipeline.AddTimeout(_options.SubmitAttemptTimeout).Build();
    }

    /// <summary>
    /// Submits a job. Without <paramref name="idempotencyKey"/> a new key is made, so the re-sends of
    /// this call are safe; pass your own to make retries of your own (a restarted process) safe too.
    /// </summary>
    /// <exception cref="OrchestratorProblemException">
    /// The API refused the job (400, 413, 422 …), or stayed unavailable (503: the job may exist; send it
    /// again with the exception's <see cref="OrchestratorProblemException.IdempotencyKey"/>).
    /// </exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="idempotencyKey"/> is not 1 to 255 printable ASCII characters, or begins or ends with a space.
    /// </exception>
    public async Task<SubmittedJob> SubmitAsync(JobSubmission job, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (idempotencyKey is not null && !IsIdempotencyKey(idempotencyKey))
        {
            // Refused here, not re-sent: a header HttpClient cannot send fails as a transport error,
            // which the submit pipeline would retry until it gave up.
            throw new ArgumentException("An idempotency key is 1 to 255 printable ASCII characters (0x20 to 0x7E), not beginning or ending with a space.", nameof(idempotencyKey));
        }

        var key = idempotencyKey ?? Guid.NewGuid().ToString("N");
        try
        {
            return await SubmitWithKeyAsync(job, key, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested && KeyOn(e, key))
        {
            // Never caught (KeyOn answers false): the caller's cancellation goes on as it was thrown, with the key.
            throw;
        }
    }

    /// <summary>
    /// Where a submission's <see cref="OperationCanceledException"/> holds its idempotency key
    /// (<see cref="Exception.Data"/>): a submission the caller canceled may still have made its job,
    /// which only that key finds again.
    /// </summary>
    public const string IdempotencyKeyData = "IdempotencyKey";

    private static bool KeyOn(Exception e, string key)
    {
        e.Data[IdempotencyKeyData] = key;
        return false;
    }

    private async Task<SubmittedJob> SubmitWithKeyAsync(JobSubmission job, string key, CancellationToken cancellationToken)
    {
        HttpResponseMessage sent;
        try
        {
            sent = await _submitPipeline.ExecuteAsync(static async (state, ct) =>
            {
                using var request = state.client.Request(HttpMethod.Post, "jobs");
                request.Content = JsonContent.Create(state.job, ClientJsonContext.Default.JobSubmission);
                request.Headers.Add(IdempotencyKeyHeader, state.key);
                return await state.client._http.SendAsync(request, ct).ConfigureAwait(false);
            }, (job, key, client: this), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The re-sends ran out with no answer: a send may have made the job, which only this key finds.
            throw new OrchestratorUnreachableException(key, e);
        }

        using var response = sent;

        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            // With the key: after the re-sends a 503 may hide a job made, which only this key finds.
            throw await ProblemAsync(response, cancellationToken, key).ConfigureAwait(false);
        }

        var answer = await ReadAnswerAsync(response, ClientJsonContext.Default.SubmitAnswer, cancellationToken, key).ConfigureAwait(false)
            ?? throw new OrchestratorProblemException(202, null, "Empty answer", "The API accepted the job but sent no body.");
        var replayed = response.Headers.TryGetValues("Idempotent-Replayed", out var values) && values.Contains("true");
        return new SubmittedJob(answer.JobId, answer.Status, answer.CreatedAt, key, replayed);
    }

    /// <summary>
    /// The API's rule for a key: 1 to 255 printable ASCII characters. HTTP drops the spaces at either end
    /// of a header's value, so such a key would reach the API as another (or, all spaces, as none).
    /// </summary>
    private static bool IsIdempotencyKey(string key) =>
        key.Length is >= 1 and <= 255 && key[0] != ' ' && key[^1] != ' ' && key.All(c => c is >= ' ' and <= '~');

    /// <summary>The job, or null when no job has that id (or it expired).</summary>
    /// <exception cref="OrchestratorProblemException">The API could not answer (503 …).</exception>
    public async Task<Job?> GetAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        using var response = await SendAsync(HttpMethod.Get, $"jobs/{Uri.EscapeDataString(jobId)}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK => await ReadJobAsync(response, jobId, cancellationToken).ConfigureAwait(false),
            HttpStatusCode.NotFound => null,
            _ => throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>
    /// The job a 200 holds, or null when it holds another resource: a string that is no job id can name
    /// one of the API's own paths (<c>jobs/counts</c> answers the counts), which no job has.
    /// </summary>
    private static async Task<Job?> ReadJobAsync(HttpResponseMessage response, string jobId, CancellationToken cancellationToken)
    {
        var job = await ReadAnswerAsync(response, ClientJsonContext.Default.Job, cancellationToken).ConfigureAwait(false);
        return job?.JobId == jobId ? job : null;
    }

    /// <summary>
    /// Waits until the job is final (<c>completed</c>, <c>failed</c> or <c>canceled</c>) and returns it: a
    /// long poll (<c>GET /jobs/{id}?wait=</c>, answered by the API as soon as the job is final), asked
    /// again when a wait ends first. While the API is away it pauses (<see cref="OrchestratorClientOptions.PollInterval"/>,
    /// doubling up to <see cref="OrchestratorClientOptions.MaxPollInterval"/>, and at least a 503's or 429's <c>Retry-After</c>). Bound the wait with <paramref name="cancellationToken"/>.
    /// </summary>
    /// <exception cref="OrchestratorProblemException">404 (the API's problem) when no job has that id.</exception>
    public async Task<Job> WaitAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        var pause = _options.PollInterval;
        while (true)
        {
            TimeSpan? retryAfter = null;
            try
            {
                // One poll is bounded here, not only by HttpClient.Timeout (100 s by default): an API that
                // stops answering (paused, a black-holed connection) is then retried like an unreachable one.
                using var pollTimeout = new CancellationTokenSource(PollTimeout, _time);
                using var poll = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, pollTimeout.Token);
                using var response = await SendAsync(HttpMethod.Get, $"jobs/{Uri.EscapeDataString(jobId)}?wait={LongPollSeconds}", poll.Token).ConfigureAwait(false);
                var job = response.StatusCode == HttpStatusCode.OK
                    ? await ReadJobAsync(response, jobId, poll.Token).ConfigureAwait(false)
                        // A 200 for another of the API's paths (jobs/counts): no job has that id.
                        ?? throw new OrchestratorProblemException(404, null, "Job not found", $"No job with id '{jobId}' exists.")
                    // The API's own problem (a 404's type, detail and trace id, a 503 …).
                    : throw await ProblemAsync(response, poll.Token).ConfigureAwait(false);
                if (job.IsFinal)
                {
                    return job;
                }

                // The wait ended with the job still running: ask again at once.
                pause = _options.PollInterval;
                continue;
            }
            catch (Exception e) when (e is HttpRequestException or OrchestratorProblemException { Status: 503 or 429 }
                || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // The API or its store is briefly away, it holds as many waits as it may (503, or 429 for the
                // tenant's share), an answer was cut mid-body (the buffered read throws it as an
                // HttpRequestException), or a poll got no answer in time (this one's bound or
                // HttpClient.Timeout, not the caller's token): the job is still there; keep waiting.
                retryAfter = (e as OrchestratorProblemException)?.RetryAfter;
            }

            pause = await PauseAsync(pause, retryAfter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Waits <paramref name="pause"/> while the API is away, or the <paramref name="retryAfter"/> it asked
    /// for when longer (a 503 too-many-waits, a tenant's 429: polled sooner, it would refuse again), and
    /// returns the next pause: doubled, up to <see cref="OrchestratorClientOptions.MaxPollInterval"/>
    /// (<see cref="WaitAsync"/>, <see cref="FollowAsync"/>).
    /// </summary>
    private async Task<TimeSpan> PauseAsync(TimeSpan pause, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        await Task.Delay(retryAfter > pause ? retryAfter.Value : pause, _time, cancellationToken).ConfigureAwait(false);
        return TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, _options.MaxPollInterval.Ticks));
    }

    /// <summary>Seconds one long poll of <see cref="WaitAsync"/> waits (the API's limit is 60; kept below common HTTP timeouts).</summary>
    private const int LongPollSeconds = 30;

    /// <summary>Longest one poll of <see cref="WaitAsync"/> may take: its long poll and a margin for a busy API.</summary>
    private static readonly TimeSpan PollTimeout = TimeSpan.FromSeconds(LongPollSeconds + 15);

    /// <summary>
    /// Cancels the job (<c>POST /jobs/{id}/cancel</c>) and returns it: <c>canceled</c>, or still
    /// <c>processing</c> when its worker has not stopped it yet (it will). Null when no job has that id.
    /// </summary>
    /// <exception cref="OrchestratorProblemException">409 when the job already completed or failed.</exception>
    public async Task<Job?> CancelAsync(string jobId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        using var response = await SendAsync(HttpMethod.Post, $"jobs/{Uri.EscapeDataString(jobId)}/cancel", cancellationToken).ConfigureAwait(false);
        return response.StatusCode switch
        {
            HttpStatusCode.OK or HttpStatusCode.Accepted => await ReadAnswerAsync(response, ClientJsonContext.Default.Job, cancellationToken).ConfigureAwait(false),
            HttpStatusCode.NotFound => null,
            _ => throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false),
        };
    }

    /// <summary>Every dead-lettered job, newest first, fetched a page of <paramref name="pageSize"/> (1 to 500) at a time.</summary>
    public async IAsyncEnumerable<Job> GetDeadLettersAsync(int pageSize = 50, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 500);
        string? cursor = null;
        do
        {
            var uri = $"dead-letters?limit={pageSize}" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
            using var response = await SendAsync(HttpMethod.Get, uri, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
            }

            var page = await ReadAnswerAsync(response, ClientJsonContext.Default.DeadLetterPage, cancellationToken).ConfigureAwait(false);
            foreach (var job in page?.Items ?? [])
            {
                yield return job;
            }

            cursor = page?.NextCursor;
        }
        while (cursor is not null);
    }

    /// <summary>A request to the API, with this client's key.</summary>
    private HttpRequestMessage Request(HttpMethod method, string uri)
    {
        var request = new HttpRequestMessage(method, uri);
        request.Headers.Authorization = _authorization;
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string uri, CancellationToken cancellationToken)
    {
        using var request = Request(method, uri);
        return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage? response, TimeProvider time) => response?.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - time.GetUtcNow() is { Ticks: > 0 } wait ? wait : TimeSpan.Zero,
        _ => null,
    };

    /// <summary>
    /// The answer's body as <paramref name="type"/>; a body that is not that JSON (a proxy's page, a cut
    /// answer) is an <see cref="OrchestratorProblemException"/> with the answer's status, as a bad event
    /// is, not a bare <see cref="JsonException"/> (with the submission's key: the job may have been made).
    /// </summary>
    private static async Task<T?> ReadAnswerAsync<T>(
        HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken, string? idempotencyKey = null)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw new OrchestratorProblemException((int)response.StatusCode, null, "Unreadable answer",
                $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath} answered {(int)response.StatusCode} with a body that is not the JSON this client reads: {e.Message}")
            {
                IdempotencyKey = idempotencyKey,
            };
        }
    }

    /// <summary>Longest a problem's body is read: an event stream's is read past HttpClient.Timeout, which covers only its headers.</summary>
    private static readonly TimeSpan ProblemBodyBound = TimeSpan.FromSeconds(10);

    private async Task<OrchestratorProblemException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken, string? idempotencyKey = null)
    {
        ProblemBody? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            using var bound = new CancellationTokenSource(ProblemBodyBound, _time);
            using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, bound.Token);
            try
            {
                problem = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ProblemBody, read.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is JsonException or HttpRequestException or IOException
                || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not a problem body after all, cut, or stalled: the status and reason still say what happened.
            }
        }

        return new OrchestratorProblemException((int)response.StatusCode, problem?.Type, problem?.Title ?? response.ReasonPhrase,
            problem?.Detail, problem?.Errors, problem?.TraceId)
        {
            IdempotencyKey = idempotencyKey,
            RetryAfter = RetryAfter(response, _time),
            Extensions = problem?.Extensions ?? [],
        };
    }
}
