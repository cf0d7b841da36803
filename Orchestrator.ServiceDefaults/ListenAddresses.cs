using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Checks the addresses a service listens on (<c>urls</c>: <c>ASPNETCORE_URLS</c> or <c>--urls</c>)
/// with the other settings at start. Kestrel reads a port that is not a number as no port at all, and
/// the host part then as a name: <c>http://127.0.0.1:5OOO</c> listened on port 80 of every interface
/// (an outside audit), a typo that put the service on the network.
/// </summary>
public static class ListenAddresses
{
    /// <summary>The configuration key (<c>ASPNETCORE_URLS</c> sets it).</summary>
    public const string Key = "urls";

    /// <summary>Checks each of <see cref="Key"/>'s addresses (separated by <c>;</c>) when the host starts.</summary>
    public static IServiceCollection AddListenAddressesCheck(this IServiceCollection services)
    {
        services.AddSettingCheck(Key, static value => (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(address => !IsReadable(address))
            .Select(address => $"{Key} (ASPNETCORE_URLS): '{address}' is not an address to listen on: http(s)://host:port, with a port from 0 to 65535"));
        return services;
    }

    /// <summary>
    /// Whether Kestrel reads <paramref name="address"/> as written: <c>scheme://host[:port][/path]</c>
    /// with a port from 0 to 65,535 if one is given; <c>*</c> and <c>+</c> (any address) and a Unix
    /// socket (<c>http://unix:/path</c>) as Kestrel takes them.
    /// </summary>
    public static bool IsReadable(string address)
    {
        if (address.Contains("://unix:", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var schemeEnd = address.IndexOf("://", StringComparison.Ordinal);
        var wildcard = address.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        return schemeEnd > 0
            && Uri.TryCreate(wildcard, UriKind.Absolute, out var uri)
            && uri.Scheme is "http" or "https"
            && uri.Host.Length > 0
            && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.Fragment)
            // Uri reads "host:" as the default port; Kestrel, as a host named "host:".
            && !address[(schemeEnd + 3)..].Split('/')[0].EndsWith(':');
    }
}
