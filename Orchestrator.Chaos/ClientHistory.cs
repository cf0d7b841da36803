using System.Collections.Concurrent;
using System.Text.Json;

namespace Orchestrator.Chaos;

/// <summary>One request a client sent and what came back (a status, or the transport error).</summary>
/// <param name="Answer">The HTTP status, or 0 when no answer came (connection refused or reset, timeout).</param>
internal sealed record ClientEvent(
    DateTimeOffset SentAt,
    DateTimeOffset AnsweredAt,
    int Client,
    string Operation,
    string? IdempotencyKey,
    int Try,
    int Answer,
    string? Error,
    string? JobId,
    bool Replayed);

/// <summary>A client's first look at a finished job, to compare with the final state (results are never overwritten).</summary>
internal sealed record FinalObservation(string Status, string? ResultText, DateTimeOffset? CompletedAt, int Attempts);

/// <summary>Everything the clients saw: the Jepsen-style history the invariants are checked against.</summary>
internal sealed class ClientHistory
{
    private readonly ConcurrentQueue<ClientEvent> _events = new();

    public ConcurrentDictionary<string, FinalObservation> Observed { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<string> ObservationConflicts { get; } = new();

    public IReadOnlyCollection<ClientEvent> Events => _events;

    public void Add(ClientEvent e) => _events.Enqueue(e);

    /// <summary>Job ids the API acknowledged with 202.</summary>
    public HashSet<string> AcknowledgedJobs() =>
        [.. _events.Where(e => e.Answer == 202 && e.JobId is not null).Select(e => e.JobId!)];

    public async Task WriteAsync(string path)
    {
        await using var file = File.Create(path);
        foreach (var e in _events.OrderBy(e => e.SentAt))
        {
            await JsonSerializer.SerializeAsync(file, e, ChaosJsonContext.Default.ClientEvent);
            file.WriteByte((byte)'\n');
        }
    }
}
