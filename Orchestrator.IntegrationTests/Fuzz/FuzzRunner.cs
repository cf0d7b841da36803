using System.Collections.Concurrent;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>What one fuzz case got back: the response (headers) and its body as text ("" for an event stream, which is not read).</summary>
internal sealed record FuzzAnswer(HttpResponseMessage Response, string Body)
{
    public int Status => (int)Response.StatusCode;

    public string? MediaType => Response.Content.Headers.ContentType?.MediaType;
}

/// <summary>
/// Sends fuzz cases to the API in parallel, each bounded by <see cref="PerRequestTimeout"/>, checks
/// every answer against <see cref="FuzzContract.CommonViolation"/> and the caller's own check, and
/// keeps a tally of the statuses (overall and per family) and a line for each case that broke the contract.
/// </summary>
internal sealed class FuzzRunner(HttpClient client)
{
    /// <summary>How long one case may take (headers and body) before it counts as a hang.</summary>
    public static readonly TimeSpan PerRequestTimeout = TimeSpan.FromSeconds(10);

    private const int Parallelism = 8;

    private readonly ConcurrentDictionary<int, int> _statuses = new();
    private readonly ConcurrentDictionary<(string Family, int Status), int> _byFamily = new();
    private readonly ConcurrentQueue<string> _failures = new();

    /// <summary>How many answers had each status.</summary>
    public IReadOnlyDictionary<int, int> Statuses => _statuses;

    /// <summary>How many answers of each case family had each status.</summary>
    public IReadOnlyDictionary<(string Family, int Status), int> ByFamily => _byFamily;

    /// <summary>One line per case that broke the contract: the case, the status, what was wrong.</summary>
    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>The statuses as "400: 12, 404: 3".</summary>
    public string Tally => string.Join(", ", _statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"));

    /// <param name="check">Null when the answer keeps the contract for its case, else what is wrong with it.</param>
    public Task RunAsync(IEnumerable<FuzzCase> cases, Func<FuzzCase, FuzzAnswer, CancellationToken, Task<string?>> check)
    {
        var options = new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = TestContext.Current.CancellationToken };
        return Parallel.ForEachAsync(cases, options, async (fuzz, ct) =>
        {
            using var request = fuzz.ToRequest();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(PerRequestTimeout);
            try
            {
                // Headers first: an event stream stays open while its job lives, so its body is not
                // read; disposing the response closes it.
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var body = response.Content.Headers.ContentType?.MediaType == "text/event-stream"
                    ? ""
                    : await response.Content.ReadAsStringAsync(timeout.Token);
                var answer = new FuzzAnswer(response, body);
                _statuses.AddOrUpdate(answer.Status, 1, static (_, n) => n + 1);
                _byFamily.AddOrUpdate((fuzz.Family, answer.Status), 1, static (_, n) => n + 1);
                if ((FuzzContract.CommonViolation(answer) ?? await check(fuzz, answer, timeout.Token)) is { } wrong)
                {
                    _failures.Enqueue($"{fuzz.Describe()} → {answer.Status}: {wrong}");
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                _failures.Enqueue($"{fuzz.Describe()} → no answer within {PerRequestTimeout.TotalSeconds:0} s");
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The in-process server hands an exception that escaped the app to the client.
                _failures.Enqueue($"{fuzz.Describe()} → threw {e.GetType().Name}: {FuzzContract.Trim(e.Message)}");
            }
        });
    }

    /// <summary>The first failures, one a line, for an assertion message.</summary>
    public string Report(int cases) =>
        $"{_failures.Count} of {cases} fuzz cases misbehaved:{Environment.NewLine}{string.Join(Environment.NewLine, _failures.Take(25))}";
}
