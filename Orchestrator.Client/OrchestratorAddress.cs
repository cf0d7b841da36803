namespace Orchestrator.Client;

/// <summary>What may be the API's address: an absolute <c>http</c> or <c>https</c> URI, or a service name under Aspire's service discovery.</summary>
public static class OrchestratorAddress
{
    /// <summary>Whether <paramref name="address"/> is one the client takes: absolute, of scheme <c>http</c>, <c>https</c> or (service discovery) <c>https+http</c>.</summary>
    public static bool IsValid(Uri? address) =>
        // Service discovery's "https+http://api" tries https, then http.
        address is { IsAbsoluteUri: true } && address.Scheme.Split('+').All(static s => s is "http" or "https");

    /// <summary>
    /// Refuses any other address where it is given: <c>localhost:3000</c> (no scheme) parses as a URI
    /// of scheme <c>localhost</c>, accepted at registration and failing every call far from the mistake.
    /// </summary>
    /// <exception cref="ArgumentException">The address is missing, relative, or of another scheme.</exception>
    internal static void Check(Uri? address, string paramName)
    {
        if (!IsValid(address))
        {
            throw new ArgumentException(
                $"The Orchestrator API's address must be an absolute http or https URI (http://localhost:3000, or http://api with service discovery); got '{address}'.",
                paramName);
        }
    }
}
