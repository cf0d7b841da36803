using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace Orchestrator.Client;

// Following a job's events as they happen (GET /jobs/{id}/events, Server-Sent Events).
public sealed partial class OrchestratorClient
{
    /// <summary>
    /// The longest a stream may stay silent before it is taken for dead and opened again: the API
    /// sends a keep-alive comment every 15 s while nothing happens, so three missed mean a connection
    /// gone quiet (a paused API, a black-holed route) that would otherwise never end.
    /// </summary>
    internal static readonly TimeSpan StreamIdleBound = TimeSpan.FromSeconds(45);

    /// <summary>
    /// The job's events from its first (or after <paramref name="lastEventId"/>) to <c>done</c>, as they
    /// happen: every transition (<c>status</c>), the text the provider streams (<c>delta</c>), and
    /// <c>done</c> with the final job, after which the enumeration ends. A stream that breaks (the API
    /// restarted or stopped, a connection lost or silent for 45 s, a 503 or 429) is opened again with
    /// <c>Last-Event-ID</c>, pausing as <see cref="WaitAsync"/> does (at least a 503's or 429's <c>Retry-After</c>): no event is missed or repeated. A job
    /// final before <paramref name="lastEventId"/>'s event (its <c>done</c> already seen) yields nothing.
    /// Bound it with <paramref name="cancellationToken"/>, or stop enumerating.
    /// </summary>
    /// <exception cref="OrchestratorProblemException">
    /// 404 when no job has that id; 400 when <paramref name="lastEventId"/> is not one of the job's events.
    /// </exception>
    public async IAsyncEnumerable<JobEvent> FollowAsync(
        string jobId, string? lastEventId = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(jobId);
        var pause = _options.PollInterval;
        while (true)
        {
            using var idle = new CancellationTokenSource(StreamIdleBound, _time);
            using var connection = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
            var (response, retryAfter) = await OpenEventsAsync(jobId, lastEventId, connection.Token, cancellationToken).ConfigureAwait(false);
            if (response is not null)
            {
                using (response)
                {
                    if (response.StatusCode == HttpStatusCode.NoContent)
                    {
                        // Nothing after lastEventId: the job's done came before it.
                        yield break;
                    }

                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
                    }

                    if (response.Content.Headers.ContentType?.MediaType != "text/event-stream")
                    {
                        // Another server's page (a proxy's, a wrong address): read as events it holds none,
                        // and the stream would be opened again without end.
                        throw new OrchestratorProblemException(200, null, "Not an event stream",
                            $"GET /jobs/{jobId}/events answered '{response.Content.Headers.ContentType}', not text/event-stream.");
                    }

                    var body = new ActivityStream(await response.Content.ReadAsStreamAsync(connection.Token).ConfigureAwait(false),
                        () => idle.CancelAfter(StreamIdleBound));
                    await using (body.ConfigureAwait(false))
                    {
                        var items = SseParser.Create(body).EnumerateAsync(connection.Token).GetAsyncEnumerator(connection.Token);
                        await using (items.ConfigureAwait(false))
                        {
                            while (await NextAsync(items, cancellationToken).ConfigureAwait(false))
                            {
                                var jobEvent = Read(items.Current);
                                lastEventId = jobEvent.Id;
                                pause = _options.PollInterval;
                                yield return jobEvent;
                                if (jobEvent.Type == JobEventTypes.Done)
                                {
                                    yield break;
                                }
                            }
                        }
                    }
                }
            }

            // The stream ended without done (the API stopped between two events), broke, or could not
            // be opened: open it again after the last event seen.
            pause = await PauseAsync(pause, retryAfter, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The stream's answer; null when it could not be had for a passing reason (asked again), with the
    /// <c>Retry-After</c> of a 503 or 429 that said when to ask. <paramref name="connection"/> bounds the
    /// wait (the idle bound, or the caller's <paramref name="cancellationToken"/>): only the caller's
    /// ends the following; an API that takes the connection and answers nothing is asked again.
    /// </summary>
    private async Task<(HttpResponseMessage? Response, TimeSpan? RetryAfter)> OpenEventsAsync(
        string jobId, string? lastEventId, CancellationToken connection, CancellationToken cancellationToken)
    {
        var request = Request(HttpMethod.Get, $"jobs/{Uri.EscapeDataString(jobId)}/events");
        using (request)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            if (lastEventId is not null)
            {
                request.Headers.TryAddWithoutValidation("Last-Event-ID", lastEventId);
            }

            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connection).ConfigureAwait(false);
            }
            catch (Exception e) when (Passing(e, cancellationToken))
            {
                return (null, null);
            }

            if (response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests)
            {
                // The API is up but its store is not, or it holds as many streams as it may (the
                // process's or the tenant's): the job's events are still there.
                using (response)
                {
                    return (null, RetryAfter(response, _time));
                }
            }

            return (response, null);
        }
    }

    /// <summary>The next event; false at the stream's end or when it broke for a passing reason.</summary>
    private static async Task<bool> NextAsync(IAsyncEnumerator<SseItem<string>> items, CancellationToken cancellationToken)
    {
        try
        {
            return await items.MoveNextAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (Passing(e, cancellationToken))
        {
            return false;
        }
    }

    /// <summary>
    /// A failure that asking again may mend: a lost or refused connection, a broken stream, or a wait
    /// ended by the stream's idle bound or <see cref="HttpClient.Timeout"/>, not by the caller's token.
    /// </summary>
    private static bool Passing(Exception e, CancellationToken cancellationToken) =>
        e is HttpRequestException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private static JobEvent Read(SseItem<string> item)
    {
        // The API gives every event its id; one without could not be resumed after.
        if (item.EventId is not { Length: > 0 } id)
        {
            throw new OrchestratorProblemException(200, null, "Event without an id", $"A '{item.EventType}' event came without an id.");
        }

        try
        {
            switch (item.EventType)
            {
                case JobEventTypes.Done:
                    var job = JsonSerializer.Deserialize(item.Data, ClientJsonContext.Default.Job)
                        ?? throw new JsonException("A done event without its job.");
                    return new JobEvent(id, JobEventTypes.Done, job.Attempts, job.Status, job.CompletedAt, Job: job);
                case JobEventTypes.Status or JobEventTypes.Delta:
                    var data = JsonSerializer.Deserialize(item.Data, ClientJsonContext.Default.JobEventData)
                        ?? throw new JsonException($"A {item.EventType} event without data.");
                    return new JobEvent(id, item.EventType, data.Attempt, data.Status, data.At, data.Text);
                default:
                    // A type added after this client: passed on with what every event has.
                    return new JobEvent(id, item.EventType);
            }
        }
        catch (JsonException e)
        {
            throw new OrchestratorProblemException(200, null, "Unreadable event", $"Event {id} ('{item.EventType}') is not the JSON this client reads: {e.Message}");
        }
    }
}
