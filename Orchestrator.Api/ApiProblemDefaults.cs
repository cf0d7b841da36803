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
        }
    }
}
