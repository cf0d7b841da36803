namespace Orchestrator.Api;

/// <summary>A middleware's refusal of a request, answered as a problem before any endpoint runs.</summary>
internal static class ProblemRefusal
{
    /// <summary>Sets <paramref name="status"/> and writes its problem (with the API's defaults, <see cref="ApiProblemDefaults"/>).</summary>
    public static Task RefuseAsync(this IProblemDetailsService problems, HttpContext context, int status, string title, string detail, string? type = null)
    {
        context.Response.StatusCode = status;
        return problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Type = type, Title = title, Detail = detail },
        }).AsTask();
    }
}
