namespace Orchestrator.Client;

/// <summary>
/// One event of a job's stream (<c>GET /jobs/{id}/events</c>), as <see cref="OrchestratorClient.FollowAsync"/>
/// yields it: a <c>status</c> on each transition, a <c>delta</c> of text the provider streamed, and
/// <c>done</c> with the final job, after which the stream ends.
/// </summary>
/// <param name="Id">The event's id; pass it as <c>lastEventId</c> to resume after it.</param>
/// <param name="Type">One of <see cref="JobEventTypes"/> (an event type this client does not know comes with its id and type only).</param>
/// <param name="Attempt">The job's attempt it belongs to (a <c>status</c>: the attempts so far; a <c>done</c>: the job's attempts).</param>
/// <param name="Status">A <c>status</c> event's status (<see cref="JobStatuses"/>); a <c>done</c>'s final status.</param>
/// <param name="At">When a <c>status</c> transition happened (Redis's clock).</param>
/// <param name="Text">A <c>delta</c>'s text: one attempt's deltas, concatenated, are its answer's text.</param>
/// <param name="Job">A <c>done</c>'s final job, as <see cref="OrchestratorClient.GetAsync"/> returns it.</param>
public sealed record JobEvent(
    string Id, string Type, int Attempt = 0, string? Status = null, DateTimeOffset? At = null, string? Text = null, Job? Job = null);

/// <summary>The types of a job's events.</summary>
public static class JobEventTypes
{
    /// <summary>A transition: <see cref="JobEvent.Status"/> and <see cref="JobEvent.At"/>.</summary>
    public const string Status = "status";

    /// <summary>Text the provider streamed during an attempt: <see cref="JobEvent.Text"/>.</summary>
    public const string Delta = "delta";

    /// <summary>The last event: the job is final (<see cref="JobEvent.Job"/>).</summary>
    public const string Done = "done";
}

/// <summary>The data of a <c>status</c> or <c>delta</c> event.</summary>
internal sealed record JobEventData(string JobId, int Attempt, string? Status = null, DateTimeOffset? At = null, string? Text = null);
