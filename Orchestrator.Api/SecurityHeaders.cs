namespace Orchestrator.Api;

/// <summary>Response headers every answer carries, errors included.</summary>
internal static class SecurityHeaders
{
    /// <summary>
    /// <c>X-Content-Type-Options: nosniff</c> on every response: a browser must not guess a type
    /// for a body (a job's output is client-controlled text). Set when the headers are sent, so it
    /// survives the exception handler, which clears the headers of a failed response.
    /// </summary>
    public static IApplicationBuilder UseNoSniff(this IApplicationBuilder app) =>
        app.Use(static (context, next) =>
        {
            context.Response.OnStarting(static state =>
            {
                ((HttpResponse)state).Headers.XContentTypeOptions = "nosniff";
                return Task.CompletedTask;
            }, context.Response);
            return next(context);
        });
}
