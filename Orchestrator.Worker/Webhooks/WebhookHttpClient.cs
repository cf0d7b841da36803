using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The one <see cref="HttpClient"/> webhooks are sent with. Built here, not by the HTTP client
/// factory: the service defaults give every factory client the standard resilience handler, and the
/// outbox is this client's one retry owner. The connection is made by <see cref="ConnectAsync"/>,
/// which resolves the host itself and refuses any address that is not public (unless
/// <c>Webhooks:AllowPrivateNetworks</c>): the API checked the name at submission, but a name can
/// resolve elsewhere by the time of sending (DNS rebinding), so the address actually dialled is
/// the one checked. No proxy (the proxy's address would be the one checked) and no redirects (a
/// 3xx is not a delivery).
/// </summary>
internal sealed class WebhookHttpClient : IDisposable
{
    private readonly bool _allowPrivateNetworks;

    public WebhookHttpClient(IOptions<WebhookOptions> options)
    {
        _allowPrivateNetworks = options.Value.AllowPrivateNetworks;
        Client = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            ConnectCallback = ConnectAsync,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            MeterFactory = UnrecordedMeters.Instance,
        })
        {
            // Each try has its own timeout (Webhooks:RequestTimeout), applied by the sender.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public HttpClient Client { get; }

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (!_allowPrivateNetworks && Array.Find(addresses, a => !NetworkAddresses.IsPublic(a)) is { } blocked)
        {
            throw new BlockedAddressException($"'{host}' resolves to {blocked}, which is not a public address; not connecting.");
        }

        // Dual mode: one socket tries IPv6 and IPv4 addresses alike, in the resolver's order.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => Client.Dispose();

    /// <summary>
    /// Meters no metrics provider listens to (not named <c>System.Net.Http</c>) for this client's
    /// handler: its <c>http.client.*</c> metrics carried each callback's host and port as tags, series a
    /// tenant could mint at will with callback URLs (an outside audit saw one per callback port). The
    /// tries are counted by <c>orchestrator.webhooks.deliveries</c> and traced (<c>webhook delivery</c>).
    /// </summary>
    private sealed class UnrecordedMeters : IMeterFactory
    {
        public static readonly UnrecordedMeters Instance = new();

        public Meter Create(MeterOptions options) => new("Orchestrator.Webhooks.Unrecorded", options.Version);

        public void Dispose()
        {
        }
    }
}

/// <summary>A webhook's host resolved to an address it may not reach (SSRF rule, checked at connect time).</summary>
internal sealed class BlockedAddressException(string message) : IOException(message);
