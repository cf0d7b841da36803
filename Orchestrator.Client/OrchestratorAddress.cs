namespace Orchestrator.Client;

/// <summary>What may be the API's address: an absolute <c>http</c> or <c>https</c> URI, or a service name under Aspire's service discovery.</summary>
internal static class OrchestratorAddress
{
    /// <summary>
    /// Refuses any other address where it is given: <c>localhost:3000</c> (no scheme) parses as a URI
    /// of scheme <c>localhost</c>, accepted at registration and failing every call far from the mistake.
    /// </summary>
    /// <exception cref="ArgumentException">The address is missing, relative, or of another scheme.</exception>
    public static void Check(Uri? address, string paramName)
    {
        // Service discovery's "https+http://api" tries https, then http.
        if (address is not { IsAbsoluteUri: true } || !address.Scheme.Split('+').All(static s => s is "http" or "https"))
        {
            throw new ArgumentException(
                $"The Orchestrator API's address must be an absolute http or https URI (http://localhost:3000, or http://api with service discovery); got '{address}'.",
                paramName);
        }
    }
}
