namespace Orchestrator.Api;

/// <summary>
/// Refuses requests whose headers total more than <see cref="MaxTotalSize"/> bytes with a 431 problem.
/// Kestrel's own limit is set above this one: what Kestrel refuses gets an empty answer, what this
/// refuses gets a body that says why.
/// </summary>
internal sealed class RequestHeadersLimit(RequestDelegate next, IProblemDetailsService problems)
{
    /// <summary>Largest accepted total of header names and values, in bytes: 32 KiB (Kestrel's default).</summary>
    public const int MaxTotalSize = 32 * 1024;

    public const string Title = "Request headers too large";

    public Task InvokeAsync(HttpContext context)
    {
        var total = 0L;
        foreach (var (name, values) in context.Request.Headers)
        {
            total += name.Length;
            foreach (var value in values)
            {
                total += value?.Length ?? 0;
            }
        }

        if (total <= MaxTotalSize)
        {
            return next(context);
        }

        return problems.RefuseAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, Title,
            $"The request's headers total {total:N0} bytes; the limit is {MaxTotalSize:N0}.");
    }
}
