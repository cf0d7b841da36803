using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.Testing;

/// <summary>An HTTP answer and when it arrived.</summary>
/// <param name="Status">The status code.</param>
/// <param name="Body">The body, as text.</param>
/// <param name="ArrivedAt">
/// When the answer's last data reached this machine's TCP stack (the kernel's record, to within one
/// kernel tick: 4 ms at HZ=250), on the wall clock.
/// </param>
/// <param name="ReadAt">When this process had read it all (includes this process's own scheduling delays).</param>
public sealed record TimedAnswer(int Status, string Body, DateTimeOffset ArrivedAt, DateTimeOffset ReadAt);

/// <summary>
/// One <c>GET</c> over its own loopback connection that reports when the answer <em>arrived</em>, not
/// when this process got round to reading it. A test process that runs other tests in parallel, or a
/// load generator holding 10,000 connections on the cores it shares with the server, may read an
/// answer tens of milliseconds after it came; that delay is the client's, not the server's. Linux
/// records on each TCP connection when data last arrived (<c>TCP_INFO</c>'s
/// <c>tcpi_last_data_recv</c>, in ms before now); read right after the answer, it dates the answer's
/// last segment on the machine clock, the clock Redis's <c>TIME</c> also reads. HTTP/1.0, so the
/// server closes the connection after the answer and the body needs no chunk decoding.
/// </summary>
public static class ArrivalTimedGet
{
    // linux/tcp.h: IPPROTO_TCP option TCP_INFO; struct tcp_info's __u32 tcpi_last_data_recv sits at byte 52.
    private const int TcpInfo = 11;
    private const int LastDataReceivedOffset = 52;

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/> and sends the request; the returned task ends with the whole answer.</summary>
    public static async Task<TimedAnswer> SendAsync(
        int port, string pathAndQuery, string? bearerKey, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        var request = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"GET {pathAndQuery} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
        if (bearerKey is not null)
        {
            request.Append(CultureInfo.InvariantCulture, $"Authorization: Bearer {bearerKey}\r\n");
        }

        await socket.SendAsync(Encoding.ASCII.GetBytes(request.Append("\r\n").ToString()), SocketFlags.None, cancellationToken).ConfigureAwait(false);

        using var received = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        var readAt = timeProvider.GetUtcNow();
        var arrivedAt = LastDataArrival(socket, timeProvider) ?? readAt;
        var text = Encoding.UTF8.GetString(received.GetBuffer(), 0, (int)received.Length);
        var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        // "HTTP/1.1 200 OK": Kestrel answers an HTTP/1.0 request with its own version.
        if (headerEnd < 0 || text.Length < 12 || !int.TryParse(text.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            throw new InvalidDataException($"Not an HTTP answer: '{text[..Math.Min(text.Length, 200)]}'.");
        }

        return new TimedAnswer(status, text[(headerEnd + 4)..], arrivedAt, readAt);
    }

    /// <summary>When data last arrived on <paramref name="socket"/>, from the kernel's TCP_INFO; null where it is not available.</summary>
    public static DateTimeOffset? LastDataArrival(Socket socket, TimeProvider timeProvider)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var info = new byte[256];
        // The kernel counts "ms ago" from the moment of the call: read the clock on both sides and
        // retry when this thread was descheduled in between.
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var before = timeProvider.GetUtcNow();
            var length = socket.GetRawSocketOption((int)SocketOptionLevel.Tcp, TcpInfo, info);
            var after = timeProvider.GetUtcNow();
            if (length < LastDataReceivedOffset + 4)
            {
                return null;
            }

            if (after - before <= TimeSpan.FromMilliseconds(2))
            {
                var ago = BitConverter.ToUInt32(info, LastDataReceivedOffset); // native byte order
                return before - TimeSpan.FromMilliseconds(ago);
            }
        }

        return null;
    }
}
