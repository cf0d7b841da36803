using Microsoft.AspNetCore.Http.Features;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// <c>Api:MaxRequestBodySize</c> for the endpoints that read a body (<c>POST /jobs</c>,
/// <c>POST /dead-letters/redrive</c>), and the one 413 problem both answer past it.
/// </summary>
internal static class RequestBodyLimit
{
    public const string Title = "Request body too large";

    /// <summary>
    /// Sets the limit on this request before its body is read: Kestrel then refuses a larger
    /// Content-Length at the first read, and a longer chunked body while it is read, with a
    /// <see cref="BadHttpRequestException"/> of status 413. Other endpoints keep Kestrel's own limit.
    /// </summary>
    public static void Apply(HttpContext context, ApiOptions options)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = options.MaxRequestBodySize;
        }
    }

    public static string Detail(ApiOptions options) =>
        $"The request body exceeds {options.MaxRequestBodySize:N0} bytes (Api:MaxRequestBodySize).";
}
