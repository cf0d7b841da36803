using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;

namespace Orchestrator.Client;

/// <summary>Registers <see cref="OrchestratorClient"/> as a typed client of <see cref="IHttpClientFactory"/>.</summary>
public static class OrchestratorClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="OrchestratorClient"/> for the API at <paramref name="baseAddress"/>: an
    /// address (<c>http://localhost:3000</c>) or, with Aspire service discovery, a service name
    /// (<c>http://api</c>). Returns the client's <see cref="IHttpClientBuilder"/> for handlers.
    /// </summary>
    /// <remarks>
    /// The client re-sends submissions itself and long-polls for up to 30 s, so the resilience handlers
    /// registered for every client (Aspire's service defaults add the standard one: a 10 s attempt
    /// timeout, a 30 s total and retries) are removed from this one: under them a wait ended in a
    /// timeout exception after 30 s, and a 503 was sent three more times before the caller saw it.
    /// </remarks>
    /// <exception cref="ArgumentException"><paramref name="baseAddress"/> is not an absolute <c>http</c> or <c>https</c> URI.</exception>
    public static IHttpClientBuilder AddOrchestratorClient(this IServiceCollection services, string baseAddress,
        Action<OrchestratorClientOptions>? configure = null) =>
        services.AddOrchestratorClient(
            Uri.TryCreate(baseAddress, UriKind.Absolute, out var uri) ? uri : throw new ArgumentException(
                $"The Orchestrator API's address must be an absolute http or https URI (http://localhost:3000); got '{baseAddress}'.", nameof(baseAddress)),
            configure);

    /// <inheritdoc cref="AddOrchestratorClient(IServiceCollection, string, Action{OrchestratorClientOptions}?)"/>
    public static IHttpClientBuilder AddOrchestratorClient(this IServiceCollection services, Uri baseAddress,
        Action<OrchestratorClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        OrchestratorAddress.Check(baseAddress, nameof(baseAddress));
        return services.AddOrchestratorClient(_ => baseAddress, configure);
    }

    /// <summary>
    /// Registers <see cref="OrchestratorClient"/> for the API at the address <paramref name="baseAddress"/>
    /// reads from the services when the client is made (an address in the application's own options).
    /// </summary>
    /// <inheritdoc cref="AddOrchestratorClient(IServiceCollection, string, Action{OrchestratorClientOptions}?)" path="/remarks"/>
    public static IHttpClientBuilder AddOrchestratorClient(this IServiceCollection services, Func<IServiceProvider, Uri> baseAddress,
        Action<OrchestratorClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        var options = services.AddOptions<OrchestratorClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return services.AddHttpClient(nameof(OrchestratorClient), (provider, http) => http.BaseAddress = Root(baseAddress(provider)))
            .AddTypedClient((http, provider) => new OrchestratorClient(
                http, provider.GetRequiredService<IOptions<OrchestratorClientOptions>>().Value, provider.GetService<TimeProvider>()))
            // What RemoveAllResilienceHandlers() does, without that method's evaluation-only status:
            // the handlers added for every client before this one's own configuration come out.
            .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) =>
            {
                for (var i = handlers.Count - 1; i >= 0; i--)
                {
                    if (handlers[i] is ResilienceHandler)
                    {
                        handlers.RemoveAt(i);
                    }
                }
            });
    }

    // Relative paths ("jobs") resolve under the whole base address only when it ends with '/'.
    private static Uri Root(Uri baseAddress) => baseAddress.AbsoluteUri.EndsWith('/') ? baseAddress : new Uri(baseAddress.AbsoluteUri + "/");
}
