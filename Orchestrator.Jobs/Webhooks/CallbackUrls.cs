using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Jobs;

/// <summary>
/// The rules a <c>callbackUrl</c> meets (SSRF): an absolute <c>https</c> URL of at most
/// <see cref="WebhookOptions.MaxUrlLength"/> characters whose host resolves only to public
/// addresses (<see cref="NetworkAddresses"/>). <see cref="WebhookOptions.AllowPrivateNetworks"/>
/// lifts the scheme and address rules. The API checks at submission; workers check the address
/// again when they connect, so a name that resolves elsewhere later (DNS rebinding) is refused then.
/// </summary>
public static class CallbackUrls
{
    /// <summary>The longest wait for a callback host's DNS answer at submission.</summary>
    public static readonly TimeSpan ResolveTimeout = TimeSpan.FromSeconds(5);

    /// <summary>What is wrong with the URL's form, or null when it is acceptable (resolution aside).</summary>
    public static string? FormProblem(string url, bool allowPrivateNetworks)
    {
        if (url.Length > WebhookOptions.MaxUrlLength)
        {
            return $"callbackUrl is {url.Length:N0} characters; the limit is {WebhookOptions.MaxUrlLength:N0}.";
        }

        // Spaces at either end: Uri reads past them, but the URL is stored and shown back as sent.
        if (url.Length > 0 && (char.IsWhiteSpace(url[0]) || char.IsWhiteSpace(url[^1])))
        {
            return "callbackUrl must not start or end with whitespace.";
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || uri.Host.Length == 0)
        {
            return "callbackUrl must be an absolute https URL.";
        }

        // Port 0 is no port anything listens on: accepted, its every delivery failed.
        if (uri.Port == 0)
        {
            return "callbackUrl's port must be 1 to 65535.";
        }

        if (uri.Scheme != "https" && !allowPrivateNetworks)
        {
            return "callbackUrl must use https.";
        }

        if (uri.UserInfo.Length > 0)
        {
            return "callbackUrl must not carry credentials (user:password@).";
        }

        return null;
    }

    /// <summary>
    /// What is wrong with where the URL's host leads: a name that does not resolve, or any address
    /// that is not public. Null when every address is public (or private networks are allowed).
    /// </summary>
    public static async Task<string?> AddressProblemAsync(Uri url, bool allowPrivateNetworks, CancellationToken cancellationToken)
    {
        if (allowPrivateNetworks)
        {
            return null;
        }

        IPAddress[] addresses;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ResolveTimeout);
        try
        {
            addresses = IPAddress.TryParse(url.IdnHost, out var literal)
                ? [literal]
                : await Dns.GetHostAddressesAsync(url.IdnHost, timeout.Token).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            return $"callbackUrl's host '{url.Host}' does not resolve.";
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"callbackUrl's host '{url.Host}' did not resolve within {ResolveTimeout.TotalSeconds:N0} s.";
        }

        if (addresses.Length == 0)
        {
            return $"callbackUrl's host '{url.Host}' does not resolve.";
        }

        // The address itself is not said: a client learnt the API's internal names' addresses that way.
        return Array.Exists(addresses, a => !NetworkAddresses.IsPublic(a))
            ? $"callbackUrl's host '{url.Host}' is, or resolves to, an address that is not public (private, loopback, link-local and similar targets are refused)."
            : null;
    }
}
