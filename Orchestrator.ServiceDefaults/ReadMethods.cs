using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// GET and HEAD for what a client reads: RFC 9110 (9.1) asks every general-purpose server for both, and
/// monitors and link checkers probe with HEAD (which answered 405). A HEAD runs the GET and Kestrel
/// sends its status and headers without the body.
/// </summary>
public static class ReadMethods
{
    /// <summary>The endpoint's methods: GET and HEAD.</summary>
    public static HttpMethodMetadata GetAndHead { get; } = new([HttpMethods.Get, HttpMethods.Head]);

    /// <summary>Lets the GET endpoint answer HEAD too (a stream, which a HEAD would hold open for nothing, stays GET only).</summary>
    public static TBuilder AlsoHead<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(GetAndHead);
}
