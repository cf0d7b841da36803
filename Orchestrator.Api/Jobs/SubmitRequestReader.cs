using System.Text.Json;
using System.Text.Unicode;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Reads <c>POST /jobs</c> with the source-generated serializer and the validation attributes of
/// <see cref="SubmitJobRequest"/>; turns whatever they refuse into a precise 4xx problem, never a 500.
/// </summary>
internal static class SubmitRequestReader
{
    public static async Task<SubmitReadResult> ReadAsync(HttpContext context, ApiOptions options, CancellationToken cancellationToken)
    {
        if (JsonContentType.RefuseBody(context, options, "Send the job as JSON with 'Content-Type: application/json'.") is { } refused)
        {
            return SubmitReadResult.Fail(StatusCodes.Status415UnsupportedMediaType, JsonContentType.RefusedTitle, refused);
        }

        return await JsonContentType.ReadBodyAsync(context, options, context.RequestServices, Parse, TooLarge, cancellationToken);
    }

    private static SubmitReadResult Parse(ReadOnlySpan<byte> body, IServiceProvider services)
    {
        if (body.Trim(" \t\r\n"u8).IsEmpty)
        {
            return BadRequest("The request body is empty; send a JSON object with at least a 'prompt'.");
        }

        if (!Utf8.IsValid(body))
        {
            return BadRequest("The request body is not valid UTF-8.");
        }

        SubmitJobRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, ApiJsonContext.Default.SubmitJobRequest);
        }
        catch (JsonException e)
        {
            return JsonProblem.From(body, e, services);
        }

        if (request is null)
        {
            return BadRequest("The request body must be a JSON object, not null.");
        }

        var errors = Validate(request, services);
        if (errors.Count > 0)
        {
            return SubmitReadResult.Invalid(errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));
        }

        // Whether the models are served is checked by the caller against the configured catalog (ModelsApi.Unserved).
        return SubmitReadResult.Ok(new(request.Prompt!, request.Model, request.MaxTokens, request.Temperature, request.Metadata,
            request.FallbackModels is { Count: > 0 } fallbacks ? fallbacks : null, request.CallbackUrl,
            request.Priority is Orchestrator.Jobs.JobPriority.Normal ? null : request.Priority));
    }

    /// <summary>What the validation attributes and rules of <see cref="SubmitJobRequest"/> refuse, by JSON field.</summary>
    internal static Dictionary<string, List<string>> Validate(SubmitJobRequest request, IServiceProvider services)
    {
        var results = SubmitJobRequestValidator.Validate(request, services);
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var result in results)
        {
            var field = JsonNamingPolicy.CamelCase.ConvertName(result.MemberNames.FirstOrDefault() ?? "body");
            (errors.TryGetValue(field, out var list) ? list : errors[field] = []).Add(result.ErrorMessage ?? "is invalid.");
        }

        return errors;
    }

    internal static SubmitReadResult BadRequest(string detail) =>
        SubmitReadResult.Fail(StatusCodes.Status400BadRequest, "Malformed request body", detail);

    private static SubmitReadResult TooLarge(ApiOptions options) =>
        SubmitReadResult.Fail(StatusCodes.Status413PayloadTooLarge, RequestBodyLimit.Title, RequestBodyLimit.Detail(options));
}
