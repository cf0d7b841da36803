using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http.Features;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Reads the body of <c>POST /dead-letters/redrive</c>. Read here rather than bound by the framework,
/// whose binding threw on a charset it does not know (<c>charset="utf-8"</c>, <c>charset=</c>): a 500.
/// No body is the empty filter; a body is JSON in UTF-8 as for <c>POST /jobs</c> (else 415), at most
/// <c>Api:MaxRequestBodySize</c> bytes as for it (else 413), read by the same
/// <see cref="JsonContentType.ReadBodyAsync"/> (a byte order mark is skipped); what the serializer
/// refuses is a 400 naming the member when it can, also a member the filter does not have.
/// </summary>
internal static class RedriveFilterReader
{
    private const string Title = "Invalid redrive filter";

    /// <param name="json">The HTTP JSON options, as the binding used: member names in any case.</param>
    public static async Task<(RedriveRequest? Filter, IResult? Refusal)> ReadAsync(HttpContext context, ApiOptions options, JsonSerializerOptions json)
    {
        // The filter is the body's; a query parameter (?tenant=) left unread would widen it, as an unknown member would.
        if (context.Request.Query.Keys.FirstOrDefault() is { } parameter)
        {
            return (null, QueryParameter(parameter));
        }

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
        if (!Utf8.IsValid(body))
        {
            // As POST /jobs says it: the serializer's refusal named the member it stopped in ("errorType must be a string").
            return (null, TypedResults.Problem("The request body is not valid UTF-8.", statusCode: StatusCodes.Status400BadRequest, title: Title));
        }

        try
        {
            var typeInfo = (JsonTypeInfo<RedriveRequest>)json.GetTypeInfo(typeof(RedriveRequest));
            // A JSON null is refused as POST /jobs refuses it: read as no filter, it would redrive every dead letter.
            return JsonSerializer.Deserialize(body, typeInfo) is { } filter
                ? (filter, null)
                : (null, TypedResults.Problem("The request body must be a JSON object, not null: send {} or no body for no filter.",
                    statusCode: StatusCodes.Status400BadRequest, title: Title));
        }
        catch (JsonException e)
        {
            // Names match in any case ("LIMIT"): the problem names the member as documented.
            var member = e.Path is { Length: > 2 } path ? path[2..].Split('.', '[')[0].ToLowerInvariant() : "";
            var names = TopLevelNames(body);
            if (!Members.Contains(member) && names.FirstOrDefault(name => !Members.Contains(name)) is { } unknown)
            {
                // The serializer stopped at it (unmapped members are disallowed), or at an error after it.
                return (null, UnknownMember(unknown));
            }

            return (null, Refusal(member, member.Length > 0 && names.Count(name => string.Equals(name, member, StringComparison.OrdinalIgnoreCase)) > 1));
        }
    }

    /// <summary>The filter's members, in any case as the serializer matches them.</summary>
    private static readonly HashSet<string> Members = new(["errorType", "from", "to", "tenant", "limit"], StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The body's top-level member names, in order, as far as they can be read. They say why the
    /// serializer refused a body with the path of a member alone: a member it does not know, or one
    /// named twice (<c>AllowDuplicateProperties</c> off, as for <c>POST /jobs</c>: the path is the second's).
    /// </summary>
    private static List<string> TopLevelNames(ReadOnlySpan<byte> body)
    {
        var names = new List<string>();
        var reader = new Utf8JsonReader(body);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1)
                {
                    names.Add(reader.GetString()!);
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not JSON (or a name that cannot be read) from here on: the names before it stand.
        }

        return names;
    }

    /// <summary>A 400 naming a member the filter does not have.</summary>
    private static IResult UnknownMember(string name) =>
        Unread(name, "is not a member of the filter (errorType, from, to, tenant, limit)");

    /// <summary>A 400 naming a query parameter: the endpoint reads none.</summary>
    private static IResult QueryParameter(string name) =>
        Unread(name, "is a query parameter: the filter (errorType, from, to, tenant, limit) is read from the JSON body only");

    /// <summary>A 400 naming what the filter would leave unread (at most 64 characters of its name), and why that is refused.</summary>
    private static IResult Unread(string name, string what)
    {
        var shown = name.Length <= 64 ? name : name[..64] + "…";
        return TypedResults.ValidationProblem(
            new Dictionary<string, string[]>(StringComparer.Ordinal)
            {
                // Begun with its name, which the problem's detail then does not repeat.
                [shown] = [$"{(shown.Length > 0 ? shown : "''")} {what}: left unread, it would widen the filter and redrive more than meant."],
            },
            title: Title);
    }

    /// <summary>The member the serializer stopped at (<see cref="JsonException.Path"/>, lower case), named as documented.</summary>
    private static IResult Refusal(string member, bool repeated)
    {
        (string Field, string Message)? refused = member switch
        {
            // The words of POST /jobs for its repeated members.
            "errortype" or "from" or "to" or "tenant" or "limit" when repeated =>
                (member == "errortype" ? "errorType" : member, "The property appears more than once."),
            "errortype" => ("errorType", "errorType must be a string: the error type of the jobs to redrive (e.g. transient)."),
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
