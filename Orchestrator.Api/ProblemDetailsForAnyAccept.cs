namespace Orchestrator.Api;

/// <summary>
/// Problem details for every request, whatever its <c>Accept</c> header says. The framework's writer
/// writes only for a client that accepts JSON: for one that sent <c>Accept: text/html</c> the key
/// check's 401 and the header limit's 431 threw (a 500 without a body), and status-code pages and
/// the exception handler answered without a problem body. Every error of this API is a problem
/// (docs/api.md), and a server may disregard <c>Accept</c> rather than answer 406 (RFC 9110 §12.5.1).
/// </summary>
internal static class ProblemDetailsForAnyAccept
{
    /// <summary><c>AddProblemDetails</c>, with the framework's writer taken for every request.</summary>
    public static IServiceCollection AddProblemDetailsForAnyAccept(this IServiceCollection services, Action<ProblemDetailsOptions> configure)
    {
        services.AddProblemDetails(configure);
        // The framework's writer (internal, the one AddProblemDetails registers) is wrapped, not copied:
        // the body stays what it writes (defaults by status, traceId, CustomizeProblemDetails).
        var framework = services.Single(d => d.ServiceType == typeof(IProblemDetailsWriter));
        services.Remove(framework);
        services.AddSingleton<IProblemDetailsWriter>(provider =>
            new AnyAcceptWriter((IProblemDetailsWriter)ActivatorUtilities.CreateInstance(provider, framework.ImplementationType!)));
        return services;
    }

    private sealed class AnyAcceptWriter(IProblemDetailsWriter framework) : IProblemDetailsWriter
    {
        public bool CanWrite(ProblemDetailsContext context) => true;

        public ValueTask WriteAsync(ProblemDetailsContext context) => framework.WriteAsync(context);
    }
}
