using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Reads the body of <c>POST /dead-letters/redrive</c>. Read here rather than bound by the framework,
/// whose binding threw on a charset it does not know (<c>charset="utf-8"</c>, <c>charset=</c>): a 500.
/// No body is the empty filter; a body is JSON in UTF-8 as for <c>POST /jobs</c> (else 415), at most
/// <c>Api:MaxRequestBodySize</c> bytes as for it (else 413), read by the same
/// <see cref="JsonContentType.ReadBodyAsync"/> (a byte order mark is skipped); what the serializer
/// refuses is a 400 naming the member when it can.
/// </summary>
internal static class RedriveFilterReader
{
    private const string Title = "Invalid redrive filter";

    /// <param name="json">The HTTP JSON options, as the binding used: member names in any case.</param>
    public static async Task<(RedriveRequest? Filter, IResult? Refusal)> ReadAsync(HttpContext context, ApiOptions options, JsonSerializerOptions json)
    {
        // As the binding decided: a request that cannot have a body (no Content-Length, or 0) is the empty filter.
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true)
        {
            return (new RedriveRequest(), null);
        }

        if (JsonContentType.RefuseBody(context, options, "Send the filter as JSON in UTF-8 with 'Content-Type: application/json'.") is { } refused)
        {
            return (null, TypedResults.Problem(refused, statusCode: StatusCodes.Status415UnsupportedMediaType, title: JsonContentType.RefusedTitle));
        }

        return await JsonContentType.ReadBodyAsync(context, options, json, Parse,
            static options => (null, TypedResults.Problem(RequestBodyLimit.Detail(options), statusCode: StatusCodes.Status413PayloadTooLarge, title: RequestBodyLimit.Title)),
            context.RequestAborted);
    }

    private static (RedriveRequest? Filter, IResult? Refusal) Parse(ReadOnlySpan<byte> body, JsonSerializerOptions json)
    {
        try
        {
            var typeInfo = (JsonTypeInfo<RedriveRequest>)json.GetTypeInfo(typeof(RedriveRequest));
            return (JsonSerializer.Deserialize(body, typeInfo) ?? new RedriveRequest(), null);
        }
        catch (JsonException e)
        {
            return (null, Refusal(e.Path));
        }
    }

    /// <summary>The member the serializer stopped at (<see cref="JsonException.Path"/>), named as documented.</summary>
    private static IResult Refusal(string? path)
    {
        // Names match in any case ("LIMIT"): the problem names the member as documented.
        var member = path is { Length: > 2 } ? path[2..].Split('.', '[')[0].ToLowerInvariant() : "";
        (string Field, string Message)? refused = member switch
        {
            "errortype" => ("errorType", "errorType must be a string: the error type of the jobs to redrive (e.g. attempts-exhausted)."),
            "from" or "to" => (member, $"{member} must be a date and time in ISO 8601 with its UTC offset, e.g. 2026-12-01T00:00:00Z or 2026-12-01T01:00:00+01:00."),
            "tenant" => ("tenant", "tenant must be a string: a tenant name."),
            "limit" => ("limit", $"limit must be an integer from 1 to {JobControlApi.RedriveLimit:N0}."),
            _ => null,
        };
        return refused is { } field
            ? TypedResults.ValidationProblem(new Dictionary<string, string[]>(StringComparer.Ordinal) { [field.Field] = [field.Message] }, title: Title)
            : TypedResults.Problem("The request body must be a JSON object whose members (errorType, from, to, tenant, limit) are all optional.",
                statusCode: StatusCodes.Status400BadRequest, title: Title);
    }
}
