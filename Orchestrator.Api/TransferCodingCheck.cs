namespace Orchestrator.Api;

/// <summary>
/// Refuses a request whose body is sent with a transfer coding other than <c>chunked</c>
/// (<c>Transfer-Encoding: gzip, chunked</c>) with a 501 problem, as RFC 9112 §6.1 asks of a server that
/// does not understand one. Kestrel decodes only the chunking and hands the rest on as it came, so such
/// a body was read still compressed (a 400 "not valid JSON") or, when not, taken without a word.
/// Only on the endpoints that read a body (those that declare what they accept, <c>.Accepts</c>):
/// another ignores the body, and its contract lists no 501.
/// </summary>
internal sealed class TransferCodingCheck(RequestDelegate next, IProblemDetailsService problems)
{
    public const string Title = "Transfer coding not implemented";

    /// <summary>The <c>type</c> of its problem: RFC 9110's 501, which the framework's defaults do not link.</summary>
    public const string Type = "https://tools.ietf.org/html/rfc9110#section-15.6.2";

    public Task InvokeAsync(HttpContext context)
    {
        var codings = context.Request.Headers.TransferEncoding;
        if (codings.Count == 0 || OnlyChunked(codings) || context.GetEndpoint()?.Metadata.GetMetadata<Microsoft.AspNetCore.Http.Metadata.IAcceptsMetadata>() is null)
        {
            return next(context);
        }

        return problems.RefuseAsync(context, StatusCodes.Status501NotImplemented, Title,
            $"Transfer-Encoding '{codings}' is not implemented: only 'chunked' is; send the body without another coding.", Type);
    }

    private static bool OnlyChunked(Microsoft.Extensions.Primitives.StringValues codings)
    {
        foreach (var value in codings)
        {
            foreach (var coding in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (!coding.Equals("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
