using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Auth;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// <c>GET /jobs/{jobId}/events</c>: the job's events as Server-Sent Events, read from its events
/// in Redis (<see cref="RedisKeys.Events"/>), woken by <see cref="JobNotifications"/>. Each event's
/// SSE <c>id</c> is its number in the job's events, so a client that reconnects with
/// <c>Last-Event-ID</c> resumes right after the last event it saw: no gap, no repeat (within what
/// Redis keeps: <see cref="RedisKeys.MaxEventsPerJob"/> events, expiring with the job). When the API
/// stops, the stream ends without 'done', and the client resumes in the same way.
/// </summary>
public static partial class JobEventsApi
{
    /// <summary>A comment line sent when nothing happened for this long, so proxies and clients see the stream alive.</summary>
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    /// <summary>Most events read from Redis per round trip.</summary>
    private const int ReadBatch = 100;

    /// <summary>
    /// The most stored text one round trip reads past its first event (bytes): a stream holds what it
    /// read until its client takes it, so 100 events of a fast model's long answer (~4 MB) were held
    /// by every reader that stalled, and by every replay (an audit: 100 stalled streams 1.7 GB, 600
    /// replays 3.7 GB).
    /// </summary>
    private const int ReadBatchBytes = 64 * 1024;

    /// <summary>Maps <c>GET /jobs/{jobId}/events</c>.</summary>
    public static IEndpointRouteBuilder MapJobEventsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/jobs/{jobId}/events", StreamAsync)
            .WithTags("Jobs")
            .RequireAuthorization()
            .WithName("GetJobEvents")
            .WithSummary("The job's events as Server-Sent Events: 'status' on every transition, 'delta' with text the provider streams " +
                "during an attempt, 'done' with the final job (then the stream ends). Reconnect with Last-Event-ID to resume; " +
                "204 when the job is final and every event was seen.")
            // With a type, or the document names no content at all; the stream is text.
            .Produces<string>(StatusCodes.Status200OK, contentType: "text/event-stream")
            .Produces(StatusCodes.Status204NoContent)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<IResult> StreamAsync(
        string jobId, HttpContext context, JobStore store, JobNotifications notifications, IOptions<ApiOptions> options, TimeProvider timeProvider,
        ILoggerFactory loggers, IHostApplicationLifetime lifetime)
    {
        var lastEventId = context.Request.Headers["Last-Event-ID"].ToString();
        if (lastEventId.Length > 0 && !JobStore.IsEventId(lastEventId))
        {
            return InvalidLastEventId("Last-Event-ID must be the id of an event this stream sent.");
        }

        if (await JobsApi.VisibleJobAsync(jobId, store, context.User) is not { } job)
        {
            return JobsApi.JobNotFound();
        }

        // Only a stream that will wait takes one of Api:MaxConcurrentWaits: a final job's events are
        // all stored (as ?wait= on a final job answers at once). A final job redriven meanwhile takes
        // one when its stream has caught up (below).
        JobListener? listener = null;
        try
        {
            if (!JobStatus.IsTerminal(job.Status) && (listener = notifications.Listen(jobId, finalOnly: false, context.User.TenantOf(), out var refusal)) is null)
            {
                return JobsApi.WaitRefused(context, refusal, options.Value);
            }

            var after = lastEventId.Length > 0 ? lastEventId : JobStore.FirstEventId;
            // The events after the last one sent; null when that one is not (or no longer) the job's.
            Task<EventPage?> ReadAfterAsync() => store.TryReadEventPageAsync(jobId, after, ReadBatch, ReadBatchBytes);
            if (await ReadAfterAsync() is not { } page)
            {
                // Not yet an event of this job: streaming from it would skip every event up to it and, on a
                // job that ends before, never send 'done'.
                return InvalidLastEventId("Last-Event-ID must be the id of an event this stream sent; the job has no event with that id.");
            }

            if (page.Events.Count == 0 && JobStatus.IsTerminal(job.Status))
            {
                // Everything was seen (the client reconnected after 'done'): 204 tells an EventSource to stop reconnecting.
                return TypedResults.NoContent();
            }

            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            var aborted = context.RequestAborted;
            await response.Body.FlushAsync(aborted);
            // Writes end when the client takes nothing for Api:EventStreamWriteTimeout: Kestrel's minimum
            // response rate is an average since the write began, so a client that stopped reading held
            // what was written to it for an hour (200 such clients of a job with a 490,000-character
            // answer held 915 MB).
            var writeTimeout = options.Value.EventStreamWriteTimeout;
            using var stalled = new CancellationTokenSource(Timeout.InfiniteTimeSpan, timeProvider);
            // A write a client does not take ends when the host stops too: the API stopped only after
            // its 30 s shutdown timeout when one stream's client had stalled.
            var stopping = lifetime.ApplicationStopping;
            using var writes = CancellationTokenSource.CreateLinkedTokenSource(aborted, stalled.Token, stopping);
            var write = writes.Token;
            try
            {
                while (true)
                {
                    stalled.CancelAfter(writeTimeout);
                    foreach (var e in page.Events)
                    {
                        if (e.Type == JobEvent.Done)
                        {
                            // The job first: every transition appends its event in the same script as the
                            // change, so when no event follows this 'done' afterwards, the job read is final
                            // as of this 'done', and the events sent before it agree with it.
                            var final = await store.GetAsync(jobId);
                            if (final is null)
                            {
                                // Expired meanwhile: nothing more to send.
                                await response.Body.FlushAsync(write);
                                return TypedResults.Empty;
                            }

                            if (!JobStatus.IsTerminal(final.Status) || (await store.ReadEventsAsync(jobId, e.Id, 1)).Count > 0)
                            {
                                // An earlier run's 'done' (the job was redriven after it): not sent, as a
                                // client ends at 'done' and that run's job is gone. Its id stays taken: a
                                // client that saw it resumes after it.
                                after = e.Id;
                                continue;
                            }

                            await WriteAsync(response, e.Id, JobEvent.Done, JsonSerializer.Serialize(JobResource.From(final), ApiJsonContext.Default.JobResource), write);
                            await response.Body.FlushAsync(write);
                            return TypedResults.Empty;
                        }

                        var data = e.Type == JobEvent.Delta
                            ? JsonSerializer.Serialize(new JobDeltaEvent(jobId, e.Attempt ?? 0, e.Text ?? string.Empty), ApiJsonContext.Default.JobDeltaEvent)
                            : JsonSerializer.Serialize(new JobStatusEvent(jobId, e.Status ?? string.Empty, e.Attempt ?? 0, (e.At ?? DateTimeOffset.UnixEpoch).UtcDateTime),
                                ApiJsonContext.Default.JobStatusEvent);
                        await WriteAsync(response, e.Id, e.Type, data, write);
                        after = e.Id;
                    }

                    await response.Body.FlushAsync(write);
                    stalled.CancelAfter(Timeout.InfiniteTimeSpan);
                    if (!page.More && listener is null)
                    {
                        // Caught up on a job that was final when the stream began and was redriven: it
                        // waits from now on, so it listens now and reads again (an event before the listen
                        // woke nothing). No slot free: end without 'done'; the client resumes with Last-Event-ID.
                        if ((listener = notifications.Listen(jobId, finalOnly: false, context.User.TenantOf(), out _)) is null)
                        {
                            return TypedResults.Empty;
                        }

                        page = await ReadAfterAsync() ?? EventPage.None;
                        continue;
                    }

                    var woken = page.More || await listener!.WaitAsync(KeepAlive, timeProvider, aborted);
                    if (listener?.HostStopping == true)
                    {
                        // The API stops: end the stream between events, without 'done' (the job is not final),
                        // so that the client reconnects, to another replica, and resumes with Last-Event-ID.
                        return TypedResults.Empty;
                    }

                    if (!woken)
                    {
                        stalled.CancelAfter(writeTimeout);
                        await response.WriteAsync(": keep-alive\n\n", write);
                        await response.Body.FlushAsync(write);
                    }

                    if (await ReadAfterAsync() is { } next)
                    {
                        page = next;
                    }
                    else if (await store.GetAsync(jobId) is null)
                    {
                        // The events this stream sent are gone with the job: lost with Redis's data (a
                        // restart without persistence) or expired. Waiting on would send keep-alives
                        // for good, holding a place of Api:MaxConcurrentWaits: it ends without 'done',
                        // and a reconnect is answered 404.
                        LogEventsGone(loggers.CreateLogger(typeof(JobEventsApi).FullName!), jobId);
                        return TypedResults.Empty;
                    }
                    else
                    {
                        // The job is there with fewer events than this stream sent (Redis rolled back to
                        // a snapshot): it waits for them, as before.
                        page = EventPage.None;
                    }
                }
            }
            catch (OperationCanceledException) when (stalled.IsCancellationRequested && !aborted.IsCancellationRequested)
            {
                // What was written is dropped with the connection; the client resumes with Last-Event-ID.
                LogClientStalled(loggers.CreateLogger(typeof(JobEventsApi).FullName!), jobId, writeTimeout.TotalSeconds);
                context.Abort();
                return TypedResults.Empty;
            }
            catch (OperationCanceledException) when (aborted.IsCancellationRequested)
            {
                // The client went away; it resumes with Last-Event-ID.
                return TypedResults.Empty;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // The host stops while a client takes nothing: its connection is closed, and it resumes elsewhere.
                context.Abort();
                return TypedResults.Empty;
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                // Redis failed once the stream had begun: too late for a 503 (it was logged as an
                // unhandled exception, with its stack). The stream ends without 'done', as when the API
                // stops, and the client resumes with Last-Event-ID.
                LogStreamCut(loggers.CreateLogger(typeof(JobEventsApi).FullName!), jobId, RedisFailure.Classify(e), e.GetType().Name, e.Message);
                return TypedResults.Empty;
            }
        }
        finally
        {
            listener?.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Events of job {JobId}: it is gone from Redis with its events (lost in a restart, or expired); the stream ends without 'done'")]
    private static partial void LogEventsGone(ILogger logger, string jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Events of job {JobId}: the client took nothing written for {Seconds} s (Api:EventStreamWriteTimeout); its connection is closed")]
    private static partial void LogClientStalled(ILogger logger, string jobId, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Events of job {JobId}: stream ended without 'done', Redis unavailable ({Kind}, {ExceptionType}): {Reason}")]
    private static partial void LogStreamCut(ILogger logger, string jobId, RedisFailureKind kind, string exceptionType, string reason);

    private static ProblemHttpResult InvalidLastEventId(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid Last-Event-ID");

    private static Task WriteAsync(HttpResponse response, string id, string type, string json, CancellationToken cancellationToken) =>
        // JSON holds no raw line break, so one data line carries it.
        response.WriteAsync($"id: {id}\nevent: {type}\ndata: {json}\n\n", Encoding.UTF8, cancellationToken);
}

/// <summary>The data of a <c>status</c> event.</summary>
/// <param name="Attempt">The job's attempts so far (the one running, for <c>processing</c>).</param>
/// <param name="At">When the transition happened (UTC).</param>
public sealed record JobStatusEvent(string JobId, string Status, int Attempt, DateTime At);

/// <summary>The data of a <c>delta</c> event: text the provider streamed, in order, during an attempt.</summary>
public sealed record JobDeltaEvent(string JobId, int Attempt, string Text);
