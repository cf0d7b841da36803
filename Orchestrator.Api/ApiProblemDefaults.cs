using Microsoft.AspNetCore.WebUtilities;
using Orchestrator.Api.Jobs;

namespace Orchestrator.Api;

/// <summary>
/// What every problem of a status gets when whoever wrote it did not say (after the framework's own
/// defaults, which give <c>type</c> and <c>title</c> only for the statuses RFC 9110 defines).
/// </summary>
internal static class ApiProblemDefaults
{
    /// <summary>The <c>type</c> of a 431, whose status RFC 6585 defines: linked as the framework links RFC 9110's.</summary>
    public const string RequestHeadersTooLargeType = "https://tools.ietf.org/html/rfc6585#section-5";

    public static void Customize(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        switch (problem.Status)
        {
            case StatusCodes.Status415UnsupportedMediaType:
                // Routing answers 415 itself when a Content-Type is not one an endpoint accepts
                // (.Accepts<T>(...)), before SubmitRequestReader sees the request, titled by the framework;
                // one spelling for every 415, and say what to send instead. Its 415 does not say which
                // endpoint refused, so the detail fits both (POST /jobs, POST /dead-letters/redrive).
                problem.Title = JsonContentType.RefusedTitle;
                problem.Detail ??= "Send the request body as JSON with 'Content-Type: application/json'.";
                break;
            case StatusCodes.Status431RequestHeaderFieldsTooLarge:
                problem.Type ??= RequestHeadersTooLargeType;
                break;
            case StatusCodes.Status404NotFound when context.HttpContext.GetEndpoint() is null:
                problem.Detail ??= "No endpoint at this path; the API's endpoints are listed in /openapi/v1.json.";
                break;
            case StatusCodes.Status405MethodNotAllowed when context.HttpContext.Response.Headers.Allow is { Count: > 0 } allow:
                problem.Detail ??= $"This endpoint takes {string.Join(", ", allow.ToArray())}.";
                break;
        }

        // A validation problem names each field in 'errors'; 'detail' says it in one sentence too, for
        // clients (and logs) that show only the detail.
        if (problem is HttpValidationProblemDetails { Errors.Count: > 0 } validation && problem.Detail is null)
        {
            problem.Detail = string.Join(" ", validation.Errors.SelectMany(field => field.Value.Select(message =>
                message.StartsWith(field.Key, StringComparison.OrdinalIgnoreCase) ? message : $"{field.Key}: {message}")));
        }

        // The framework's own titles are reason phrases in Title Case ("Method Not Allowed"); the API's
        // are sentences ("Job not found"): one style for every problem a client reads.
        if (problem.Status is { } status && problem.Title is { } title && title == ReasonPhrases.GetReasonPhrase(status))
        {
            problem.Title = SentenceCase(title);
        }
    }

    /// <summary>A reason phrase as the API writes its titles: "Method Not Allowed" → "Method not allowed".</summary>
    public static string SentenceCase(string phrase) => phrase.Length == 0 ? phrase : phrase[0] + phrase[1..].ToLowerInvariant();
}
