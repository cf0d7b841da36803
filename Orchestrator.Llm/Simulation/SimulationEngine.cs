using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Orchestrator.Llm.Simulation;

/// <summary>One call to the simulator, as either entry point (HTTP or in-process) received it.</summary>
/// <param name="Hints">The job's <c>simulator.*</c> metadata (see <see cref="SimulatorHints"/>).</param>
/// <param name="ArrivedAt">
/// When the request arrived (a <see cref="TimeProvider.GetTimestamp"/> of the engine's clock), before its
/// body was read; null: now. Calls are judged against the Retry-After windows by this time, so that a
/// call the simulator was slow to read is not taken for one sent late.
/// </param>
public sealed record SimulatedCall(string Model, string Prompt, int? MaxTokens, IReadOnlyDictionary<string, string>? Hints, int Attempt, long? ArrivedAt = null);

/// <summary>An error the simulator answers, with the HTTP status and OpenAI error body fields it sends.</summary>
/// <param name="Param">The request field at fault (OpenAI's <c>param</c>), when one is.</param>
public sealed record SimulatedError(LlmErrorKind Kind, int Status, string Type, string? Code, string Message, TimeSpan? RetryAfter = null, string? Param = null)
{
    /// <summary>The same error as the worker sees it from a real provider.</summary>
    public LlmException ToException() => new(Kind, $"{Status} {Code ?? Type}: {Message}", RetryAfter);
}

/// <summary>The state of the simulator's limits after a call, for the <c>x-ratelimit-*</c> headers.</summary>
public sealed record RateLimitState(
    int? RequestLimit, long RemainingRequests, TimeSpan ResetRequests, int? TokenLimit, long RemainingTokens, TimeSpan ResetTokens);

/// <summary>
/// What the simulator will do with a call, decided when it arrives: refuse it now
/// (<see cref="Rejection"/>: rate limit, forced error, context window), or answer after
/// <see cref="Latency"/> with <see cref="Text"/> streamed at <see cref="TokensPerSecond"/>, or
/// fail after the latency (<see cref="LateFailure"/>: a simulated overload).
/// </summary>
/// <param name="CutAtMaxTokens">
/// Whether the answer was cut at the request's <c>max_tokens</c>: its finish reason is then
/// <c>length</c>, as a real model's, else <c>stop</c>. (An answer shaped to <c>Simulator:CompletionTokens</c> ends as <c>stop</c>.)
/// </param>
public sealed record SimulatedPlan(
    SimulatedError? Rejection,
    SimulatedError? LateFailure,
    string Text,
    int PromptTokens,
    int CompletionTokens,
    TimeSpan Latency,
    double? TokensPerSecond,
    RateLimitState Limits,
    bool CutAtMaxTokens = false);

/// <summary>
/// The one simulation logic: latency, failures, rate limits, context window and the answer's
/// text and token counts. The <c>Orchestrator.LlmSimulator</c> service puts it behind OpenAI's
/// HTTP protocol; <see cref="SimulatedChatClient"/> behind <c>IChatClient</c>, in process.
/// Thread-safe.
/// </summary>
public sealed class SimulationEngine
{
    private static readonly string[] Openings =
    [
        "Here is a concise answer.",
        "In short:",
        "Let's break this down.",
        "The key idea is simple.",
    ];

    // Answers already composed and counted, by opening and limits: an answer does not quote its
    // prompt, so the few shapes are tokenized once, not once per call (a load test's prompts are
    // unique; counting each answer was ~11 % of a worker's CPU in no-op benchmarks, the stand-in
    // provider's cost, not the orchestrator's). Bounded, as limits come from clients: cleared when full.
    private const int MaxComposed = 1_024;
    private static readonly ConcurrentDictionary<(int Opening, int? MaxTokens, int? Length), (string Text, int Tokens, bool Cut)> Composed = new();
    private static int _composedCount;

    // Words that are one o200k token each after a space: an answer lengthened by k of them has k more tokens.
    private static readonly string[] Filler = [" and", " the", " answer", " would", " go", " on", " here", " with", " more", " detail"];

    private readonly SimulatorOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _gate = new();
    private readonly GcraLimiter? _requests;
    private readonly GcraLimiter? _tokens;
    private readonly long _startedTimestamp;
    // The 429s whose Retry-After may still be running: when each was answered and until when.
    private readonly List<(double AnsweredMs, double UntilMs)> _announced = [];
    private long _calls, _rateLimited, _callsInsideRetryAfter, _callsInsideRetryAfterPastGrace, _servedTokens, _aborted, _completed, _failed;

    /// <summary>Creates an engine with its own limits and counters.</summary>
    public SimulationEngine(SimulatorOptions options, TimeProvider timeProvider)
    {
        _options = options;
        _time = timeProvider;
        _random = options.Seed is { } seed ? new Random(seed) : new Random();
        _requests = options.RequestsPerMinute is { } rpm ? new GcraLimiter(rpm, options.Burst) : null;
        _tokens = options.TokensPerMinute is { } tpm ? new GcraLimiter(tpm, options.Burst) : null;
        _startedTimestamp = timeProvider.GetTimestamp();
    }

    /// <summary>The settings the engine runs with.</summary>
    public SimulatorOptions Options => _options;

    /// <summary>Decides what happens to <paramref name="call"/> and counts it.</summary>
    public SimulatedPlan Plan(SimulatedCall call)
    {
        var hints = call.Hints;
        var (text, promptTokens, completionTokens, cut) = ComposeAndCount(call.Prompt, call.MaxTokens, _options.CompletionTokens);
        var latency = Number(hints, SimulatorHints.LatencyMs) is { } ms ? TimeSpan.FromMilliseconds(ms) : _options.Latency;
        var tokensPerSecond = Number(hints, SimulatorHints.TokensPerSecond) is { } pace && pace > 0 && double.IsFinite(pace) ? pace : _options.TokensPerSecond;
        var failureRate = Number(hints, SimulatorHints.FailureRate) ?? _options.FailureRate;
        var failFirst = Number(hints, SimulatorHints.FailFirstAttempts);

        lock (_gate)
        {
            var now = NowMs();
            _calls++;
            CountAgainstAnnouncements(call.ArrivedAt is { } arrived ? Math.Min(now, _time.GetElapsedTime(_startedTimestamp, arrived).TotalMilliseconds) : now, now);

            var forced = Forced(hints?.GetValueOrDefault(SimulatorHints.Error), call.Model);
            if (forced is not null)
            {
                if (forced.Kind is LlmErrorKind.RateLimited)
                {
                    return Refuse(forced, now, promptTokens, completionTokens, latency, text);
                }

                _failed++;
                return new SimulatedPlan(forced, null, text, promptTokens, completionTokens, latency, tokensPerSecond, LimitsAt(now));
            }

            if (_options.ContextWindow is { } window && promptTokens + (call.MaxTokens ?? 0) > window)
            {
                _failed++;
                var tooLong = new SimulatedError(LlmErrorKind.ContextLengthExceeded, 400, "invalid_request_error", "context_length_exceeded",
                    $"This model's maximum context length is {window} tokens. However, you requested {promptTokens + (call.MaxTokens ?? 0)} tokens "
                    + $"({promptTokens} in the messages, {call.MaxTokens ?? 0} in the completion).");
                return new SimulatedPlan(tooLong, null, text, promptTokens, completionTokens, latency, tokensPerSecond, LimitsAt(now));
            }

            // OpenAI counts a request against its limits as it arrives; the answer's size is known here.
            var cost = promptTokens + completionTokens;
            var wait = Math.Max(_requests?.WaitMs(now, 1) ?? 0, _tokens?.WaitMs(now, cost) ?? 0);
            if (wait > 0)
            {
                var which = (_tokens?.WaitMs(now, cost) ?? 0) >= wait ? "tokens per min (TPM)" : "requests per min (RPM)";
                var limit = which.StartsWith('t') ? _tokens!.Limit : _requests!.Limit;
                var error = new SimulatedError(LlmErrorKind.RateLimited, 429, "rate_limit_exceeded", "rate_limit_exceeded",
                    $"Rate limit reached for {call.Model} on {which}: Limit {limit}. Please try again in {RateLimitHeaders.FormatDuration(TimeSpan.FromMilliseconds(wait))}.",
                    TimeSpan.FromMilliseconds(Math.Ceiling(wait)));
                return Refuse(error, now, promptTokens, completionTokens, latency, text);
            }

            _requests?.Take(now, 1);
            _tokens?.Take(now, cost);
            var roll = _random.NextDouble();
            SimulatedError? late = null;
            if (hints?.GetValueOrDefault(SimulatorHints.PermanentFailure) == "true" || roll >= 1 - _options.PermanentFailureRate)
            {
                _failed++;
                var invalid = new SimulatedError(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", null, "The simulated provider rejected this prompt.");
                return new SimulatedPlan(invalid, null, text, promptTokens, completionTokens, latency, tokensPerSecond, LimitsAt(now));
            }

            if (failFirst is { } n && call.Attempt <= n)
            {
                late = new SimulatedError(LlmErrorKind.Transient, 503, "server_error", null,
                    $"Simulated overload (attempt {call.Attempt} of the first {n:0} that fail).");
            }
            else if (roll < failureRate)
            {
                late = new SimulatedError(LlmErrorKind.Transient, 503, "server_error", null, "Simulated transient failure: the engine is overloaded.");
            }

            return new SimulatedPlan(null, late, text, promptTokens, completionTokens, latency, tokensPerSecond, LimitsAt(now), cut);
        }
    }

    /// <summary>Waits out a delay: precisely on the real clock (see <see cref="LatencyClock"/>), as told on a test's fake clock.</summary>
    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        delay <= TimeSpan.Zero ? Task.CompletedTask
        : ReferenceEquals(_time, TimeProvider.System) ? LatencyClock.Shared.WaitAsync(delay, cancellationToken)
        : Task.Delay(delay, _time, cancellationToken);

    /// <summary>Counts the end of a planned call: answered in full, failed late, or abandoned by its client.</summary>
    public void Finished(SimulatedPlan plan, bool answered, bool aborted)
    {
        lock (_gate)
        {
            if (aborted)
            {
                _aborted++;
            }
            else if (answered)
            {
                _completed++;
                _servedTokens += plan.PromptTokens + plan.CompletionTokens;
            }
            else
            {
                _failed++;
            }
        }
    }

    /// <summary>The counters, as <c>GET /stats</c> shows them.</summary>
    public SimulatorStats Stats()
    {
        lock (_gate)
        {
            var minutes = Math.Max(1e-9, _time.GetElapsedTime(_startedTimestamp).TotalMinutes);
            return new SimulatorStats(_calls, _rateLimited, _callsInsideRetryAfter, _callsInsideRetryAfterPastGrace,
                _servedTokens, _servedTokens / minutes, _aborted, _completed, _failed);
        }
    }

    private SimulatedPlan Refuse(SimulatedError error, double now, int promptTokens, int completionTokens, TimeSpan latency, string text)
    {
        _rateLimited++;
        // Every later call before its end arrives inside a Retry-After window announced to someone.
        _announced.Add((now, now + (error.RetryAfter ?? TimeSpan.Zero).TotalMilliseconds));
        return new SimulatedPlan(error, null, text, promptTokens, completionTokens, latency, _options.TokensPerSecond, LimitsAt(now));
    }

    /// <summary>
    /// Counts a call that arrived at <paramref name="arrived"/> inside a Retry-After window: one a
    /// 429 answered before it announced, and still running. Past the grace when that 429 was
    /// answered more than <c>Simulator:AnnouncementGrace</c> before the call arrived: each 429 is
    /// judged on its own, as the fleet hears of each on its own (a later 429 that extends a window
    /// gives its own grace; an earlier one does not shorten it).
    /// </summary>
    private void CountAgainstAnnouncements(double arrived, double now)
    {
        // Windows long over judge no call any more (a call is read within seconds of its arrival).
        _announced.RemoveAll(a => a.UntilMs < now - 60_000);
        var grace = _options.AnnouncementGrace.TotalMilliseconds;
        var inside = false;
        var pastGrace = false;
        foreach (var (answered, until) in _announced)
        {
            if (answered < arrived && arrived < until)
            {
                inside = true;
                pastGrace |= arrived - answered > grace;
            }
        }

        _callsInsideRetryAfter += inside ? 1 : 0;
        _callsInsideRetryAfterPastGrace += pastGrace ? 1 : 0;
    }

    private RateLimitState LimitsAt(double now) => new(
        _requests?.Limit, _requests?.Remaining(now) ?? 0, _requests?.Reset(now) ?? TimeSpan.Zero,
        _tokens?.Limit, _tokens?.Remaining(now) ?? 0, _tokens?.Reset(now) ?? TimeSpan.Zero);

    private double NowMs() => _time.GetElapsedTime(_startedTimestamp).TotalMilliseconds;

    private static SimulatedError? Forced(string? error, string model) => error switch
    {
        null or "" => null,
        "rate_limit" => new(LlmErrorKind.RateLimited, 429, "rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached (forced by simulator.error).", TimeSpan.FromSeconds(1)),
        "insufficient_quota" => new(LlmErrorKind.InsufficientQuota, 429, "insufficient_quota", "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details."),
        "invalid_request" => new(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", "invalid_request", "Invalid request (forced by simulator.error)."),
        "context_length_exceeded" => new(LlmErrorKind.ContextLengthExceeded, 400, "invalid_request_error", "context_length_exceeded",
            "This model's maximum context length was exceeded (forced by simulator.error)."),
        "request_too_large" => new(LlmErrorKind.RequestTooLarge, 429, "tokens", "rate_limit_exceeded",
            $"Request too large for {model} in organization org-simulated on tokens per min (TPM): Limit 30000, Requested 36282. The input or output tokens must be reduced in order to run successfully."),
        "authentication" => new(LlmErrorKind.Authentication, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        "permission" => new(LlmErrorKind.Permission, 403, "permission_error", "permission_denied", "You are not allowed to use this model."),
        "model_not_found" => new(LlmErrorKind.ModelNotFound, 404, "invalid_request_error", "model_not_found", $"The model '{model}' does not exist."),
        "server_error" => new(LlmErrorKind.Transient, 500, "server_error", null, "The server had an error (forced by simulator.error)."),
        _ => new(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", "invalid_request", $"Unknown simulator.error '{error}'."),
    };

    private static (string Text, int PromptTokens, int CompletionTokens, bool CutAtMaxTokens) ComposeAndCount(string prompt, int? maxOutputTokens, int? length)
    {
        var key = (Opening: (int)((uint)prompt.Length % Openings.Length), MaxTokens: maxOutputTokens, Length: length);
        if (!Composed.TryGetValue(key, out var answer))
        {
            answer = Compose(Openings[key.Opening], maxOutputTokens, length);
            // Counted here, not with Composed.Count, which takes every lock of the dictionary (12 % of a
            // worker's CPU in S2 when it ran per call). A bound needs no exact count.
            if (Composed.TryAdd(key, answer) && Interlocked.Increment(ref _composedCount) > MaxComposed)
            {
                Interlocked.Exchange(ref _composedCount, 0);
                Composed.Clear();
            }
        }

        // The prompt's count is the worker's own when the simulator runs in its process (TokenCounter
        // remembers the string it counted before the call).
        return (answer.Text, TokenCounter.CountPrompt(prompt), answer.Tokens, answer.Cut);
    }

    /// <summary>The answer and its completion tokens, counted once (twice when it is cut), and whether <paramref name="maxOutputTokens"/> cut it.</summary>
    private static (string Text, int Tokens, bool Cut) Compose(string opening, int? maxOutputTokens, int? length)
    {
        var text = $"{opening} A production model would answer here; this is the simulated provider, "
            + "which returns text of a realistic shape so the pipeline around it can be exercised end to end.";
        var tokens = TokenCounter.Count(text);
        if (length is { } wanted && tokens < wanted)
        {
            // Each filler word is one token after a space (and after the text's final period), so k words add k tokens.
            var builder = new StringBuilder(text);
            for (var i = 0; tokens < wanted; i++, tokens++)
            {
                builder.Append(Filler[i % Filler.Length]);
            }

            text = builder.ToString();
        }

        // Longer than the request's max_tokens: a real model stops there, with finish_reason "length".
        var cut = maxOutputTokens is { } asked && tokens > asked;
        var limit = length is { } most ? Math.Min(most, maxOutputTokens ?? most) : maxOutputTokens;
        if (limit is { } max && tokens > max)
        {
            // Cut to about max tokens (some four characters each), then trim to the exact count.
            text = text[..Math.Min(text.Length, Math.Max(1, max * 4))];
            tokens = TokenCounter.Count(text);
            while (text.Length > 1 && tokens > max)
            {
                text = text[..^Math.Max(1, text.Length / 20)];
                tokens = TokenCounter.Count(text);
            }
        }

        return (text, tokens, cut);
    }

    private static double? Number(IReadOnlyDictionary<string, string>? hints, string key) =>
        hints?.TryGetValue(key, out var value) == true
        && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : null;
}

/// <summary>The simulator's counters (<c>GET /stats</c>).</summary>
/// <param name="Calls">Chat-completion requests received, refused ones included.</param>
/// <param name="RateLimited">429s sent (rate limit, forced or not).</param>
/// <param name="CallsInsideRetryAfter">Calls that arrived while a Retry-After the simulator had announced to anyone was running.</param>
/// <param name="CallsInsideRetryAfterPastGrace">
/// Of those, the calls that arrived more than <c>Simulator:AnnouncementGrace</c> after a 429 whose window they
/// fell in was answered: calls sent by a client that could have heard of that 429 (the others were on the
/// wire, or past their client's check, when it was sent).
/// </param>
/// <param name="Tokens">Prompt plus completion tokens of answers served in full.</param>
/// <param name="TokensPerMinute">Tokens per minute since the simulator started.</param>
/// <param name="Aborted">Calls whose client hung up before the answer ended.</param>
/// <param name="Completed">Calls answered in full.</param>
/// <param name="Failed">Calls answered with an error other than a rate limit.</param>
public sealed record SimulatorStats(
    long Calls, long RateLimited, long CallsInsideRetryAfter, long CallsInsideRetryAfterPastGrace, long Tokens, double TokensPerMinute, long Aborted, long Completed, long Failed);
