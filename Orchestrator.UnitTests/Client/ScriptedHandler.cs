namespace Orchestrator.UnitTests.Client;

/// <summary>Answers each request with <c>answer(call number, token)</c>; counts the calls and keeps the idempotency keys sent.</summary>
internal sealed class ScriptedHandler(Func<int, CancellationToken, Task<HttpResponseMessage>> answer) : HttpMessageHandler
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public List<string> IdempotencyKeys { get; } = [];

    /// <summary>Each request's <c>Authorization</c> header, "" when it had none.</summary>
    public List<string> Authorizations { get; } = [];

    /// <summary>Each request's <c>Last-Event-ID</c> header, null when it had none.</summary>
    public List<string?> LastEventIds { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        lock (Authorizations)
        {
            Authorizations.Add(request.Headers.Authorization?.ToString() ?? "");
            LastEventIds.Add(request.Headers.TryGetValues("Last-Event-ID", out var ids) ? ids.Single() : null);
        }

        if (request.Headers.TryGetValues("Idempotency-Key", out var keys))
        {
            lock (IdempotencyKeys)
            {
                IdempotencyKeys.AddRange(keys);
            }
        }

        return AnswerAsync(request, cancellationToken);
    }

    private async Task<HttpResponseMessage> AnswerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await answer(Interlocked.Increment(ref _calls), cancellationToken);
        // As the socket handler does: the answer knows its request.
        response.RequestMessage ??= request;
        return response;
    }
}
