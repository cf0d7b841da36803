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
    /// Content-Length at the first read with a <see cref="BadHttpRequestException"/> of status 413.
    /// Other endpoints keep Kestrel's own limit.
    /// </summary>
    /// <remarks>
    /// Kestrel counts a chunked body's framing against its limit too: 1-byte chunks are 6 bytes
    /// each ("1\r\nx\r\n"), so a chunked body of 200,000 bytes was refused at a 1 MiB limit (an
    /// outside audit). A chunked body is held to the limit by its read (the data, as
    /// <c>JsonContentType.ReadBodyAsync</c> counts it); Kestrel's limit then only bounds its framing.
    /// </remarks>
    public static void Apply(HttpContext context, ApiOptions options)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = context.Request.ContentLength is null ? (MaxFramingPerByte * options.MaxRequestBodySize) + 5 : options.MaxRequestBodySize;
        }
    }

    /// <summary>The most bytes one byte of a chunked body takes on the wire, in chunks of one.</summary>
    private const long MaxFramingPerByte = 6;

    public static string Detail(ApiOptions options) =>
        $"The request body exceeds {options.MaxRequestBodySize:N0} bytes (Api:MaxRequestBodySize).";
}
