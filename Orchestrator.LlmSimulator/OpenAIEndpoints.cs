using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;

namespace Orchestrator.LlmSimulator;

/// <summary>
/// OpenAI's wire format around the <see cref="SimulationEngine"/>: <c>POST /v1/chat/completions</c>
/// (plain, or server-sent events with <c>stream: true</c>, usage in the last chunk when
/// <c>stream_options.include_usage</c>), <c>GET /v1/models</c>, and <c>GET /stats</c>. Errors carry
/// OpenAI's body and, for 429s, its <c>retry-after</c>, <c>retry-after-ms</c> and <c>x-ratelimit-*</c> headers.
/// The job's <c>simulator.*</c> hints arrive in the request's <c>metadata</c>.
/// </summary>
internal static class OpenAIEndpoints
{
    public static IEndpointRouteBuilder MapOpenAIEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", ChatCompletionsAsync);
        app.MapGet("/v1/models", Models);
        app.MapGet("/stats", (SimulationEngine engine) => TypedResults.Json(engine.Stats(), StatsJsonContext.Default.SimulatorStats));
        return app;
    }

    private static IResult Models(IOptions<SimulatorOptions> options) => TypedResults.Json(
        new ModelListDto("list", [new ModelDto(options.Value.Model, "model", 0, "orchestrator-simulator")]),
        SimulatorJsonContext.Default.ModelListDto);

    private static async Task ChatCompletionsAsync(HttpContext context, SimulationEngine engine, TimeProvider time)
    {
        var arrived = time.GetTimestamp();
        var aborted = context.RequestAborted;
        ChatCompletionRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(context.Request.Body, SimulatorJsonContext.Default.ChatCompletionRequest, aborted);
        }
        catch (JsonException e)
        {
            await WriteErrorAsync(context, new SimulatedError(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", null, $"We could not parse the JSON body of your request: {e.Message}"), null);
            return;
        }

        if (request?.Messages is not { Count: > 0 } messages || string.IsNullOrEmpty(request.Model))
        {
            await WriteErrorAsync(context, new SimulatedError(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", "missing_required_parameter", "'model' and 'messages' are required."), null);
            return;
        }

        // As OpenAI answers a bound below 1 (it would otherwise be an empty answer, billed).
        foreach (var (field, value) in new[] { ("max_tokens", request.MaxTokens), ("max_completion_tokens", request.MaxCompletionTokens) })
        {
            if (value is < 1)
            {
                await WriteErrorAsync(context, new SimulatedError(LlmErrorKind.InvalidRequest, 400, "invalid_request_error", "integer_below_min_value",
                    $"Invalid '{field}': integer below minimum value. Expected a value >= 1, but got {value} instead.", Param: field), null);
                return;
            }
        }

        var hints = request.Metadata;
        var attempt = hints?.GetValueOrDefault(SimulatorHints.Attempt) is { } a && int.TryParse(a, CultureInfo.InvariantCulture, out var n) ? n : 1;
        var plan = engine.Plan(new SimulatedCall(
            request.Model, string.Join("\n", messages.Select(m => m.Text)), request.MaxCompletionTokens ?? request.MaxTokens, hints, attempt, arrived));
        WriteLimitHeaders(context.Response, plan.Limits);
        if (plan.Rejection is { } rejection)
        {
            await WriteErrorAsync(context, rejection, plan.Limits);
            return;
        }

        var answered = false;
        try
        {
            await engine.DelayAsync(plan.Latency, aborted);
            if (plan.LateFailure is { } failure)
            {
                await WriteErrorAsync(context, failure, plan.Limits);
                return;
            }

            var id = $"chatcmpl-{Guid.NewGuid():N}";
            var created = time.GetUtcNow().ToUnixTimeSeconds();
            var usage = new UsageDto(plan.PromptTokens, plan.CompletionTokens, plan.PromptTokens + plan.CompletionTokens);
            if (request.Stream != true)
            {
                await engine.DelayAsync(SimulatedStream.Chunks(plan).Aggregate(TimeSpan.Zero, (sum, c) => sum + c.Delay), aborted);
                var completion = new ChatCompletionDto(id, "chat.completion", created, request.Model,
                    [new ChoiceDto(0, new MessageDto("assistant", plan.Text), FinishReason(plan))], usage);
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(JsonSerializer.Serialize(completion, SimulatorJsonContext.Default.ChatCompletionDto), aborted);
                answered = true;
                return;
            }

            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await WriteChunkAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, request.Model,
                [new ChunkChoiceDto(0, new DeltaDto("assistant", ""), null)], null), aborted);
            foreach (var (chunk, delay) in SimulatedStream.Chunks(plan))
            {
                await engine.DelayAsync(delay, aborted);
                await WriteChunkAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, request.Model,
                    [new ChunkChoiceDto(0, new DeltaDto(null, chunk), null)], null), aborted);
            }

            await WriteChunkAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, request.Model,
                [new ChunkChoiceDto(0, new DeltaDto(null, null), FinishReason(plan))], null), aborted);
            if (request.StreamOptions?.IncludeUsage == true)
            {
                // As OpenAI sends it: one last chunk with no choices and the usage.
                await WriteChunkAsync(context, new ChatCompletionChunkDto(id, "chat.completion.chunk", created, request.Model, [], usage), aborted);
            }

            await context.Response.WriteAsync("data: [DONE]\n\n", aborted);
            await context.Response.Body.FlushAsync(aborted);
            answered = true;
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client hung up; counted as aborted below.
        }
        finally
        {
            engine.Finished(plan, answered, aborted: !answered && aborted.IsCancellationRequested);
        }
    }

    /// <summary>OpenAI's <c>finish_reason</c>: <c>length</c> for an answer cut at the request's <c>max_tokens</c>, else <c>stop</c>.</summary>
    private static string FinishReason(SimulatedPlan plan) => plan.CutAtMaxTokens ? "length" : "stop";

    private static async Task WriteChunkAsync(HttpContext context, ChatCompletionChunkDto chunk, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(chunk, SimulatorJsonContext.Default.ChatCompletionChunkDto);
        await context.Response.WriteAsync($"data: {json}\n\n", Encoding.UTF8, cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }

    private static Task WriteErrorAsync(HttpContext context, SimulatedError error, RateLimitState? limits)
    {
        var response = context.Response;
        response.StatusCode = error.Status;
        if (error.RetryAfter is { } wait)
        {
            response.Headers["retry-after-ms"] = ((long)Math.Ceiling(wait.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
            response.Headers.RetryAfter = ((long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        response.ContentType = "application/json";
        var body = new ErrorDto(new ErrorBodyDto(error.Message, error.Type, error.Param, error.Code));
        return response.WriteAsync(JsonSerializer.Serialize(body, SimulatorJsonContext.Default.ErrorDto));
    }

    private static void WriteLimitHeaders(HttpResponse response, RateLimitState limits)
    {
        if (limits.RequestLimit is { } requests)
        {
            response.Headers["x-ratelimit-limit-requests"] = requests.ToString(CultureInfo.InvariantCulture);
            response.Headers["x-ratelimit-remaining-requests"] = limits.RemainingRequests.ToString(CultureInfo.InvariantCulture);
            response.Headers["x-ratelimit-reset-requests"] = RateLimitHeaders.FormatDuration(limits.ResetRequests);
        }

        if (limits.TokenLimit is { } tokens)
        {
            response.Headers["x-ratelimit-limit-tokens"] = tokens.ToString(CultureInfo.InvariantCulture);
            response.Headers["x-ratelimit-remaining-tokens"] = limits.RemainingTokens.ToString(CultureInfo.InvariantCulture);
            response.Headers["x-ratelimit-reset-tokens"] = RateLimitHeaders.FormatDuration(limits.ResetTokens);
        }
    }
}
