using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Auth;

/// <summary>Puts the caller's tenant on every log record written while its request runs.</summary>
internal static class TenantLogScope
{
    /// <summary>
    /// After authentication: opens a log scope holding <c>orchestrator.tenant</c> (scopes are shared
    /// by every logger of the factory, and the OpenTelemetry exporter includes them).
    /// </summary>
    public static IApplicationBuilder UseTenantLogScope(this WebApplication app)
    {
        var logger = app.Logger;
        return app.Use(async (context, next) =>
        {
            using (For(context, logger))
            {
                await next(context);
            }
        });
    }

    /// <summary>
    /// The scope of the caller's tenant; null for an anonymous caller. Also for a line written after the
    /// request's own scope has closed: the exception handlers run outside it (a 503's "Redis
    /// unavailable" line carried no tenant).
    /// </summary>
    public static IDisposable? For(HttpContext context, ILogger logger) =>
        context.User.TenantOf() is { } tenant ? logger.BeginScope(new TenantScope(tenant)) : null;
}
