using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Testing;

/// <summary>Loopback ports for servers a test or a run starts.</summary>
public static class LoopbackPort
{
    /// <summary>A loopback port nobody listens on right now (the OS picks it).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// A free loopback port whose partner <paramref name="offset"/> above is free too: a Redis
    /// Cluster node listens on its port and on port + 10,000 (the cluster bus), and a node whose bus
    /// port is taken (or above 65,535) exits at start.
    /// </summary>
    public static int NextWithPartner(int offset)
    {
        for (var tries = 0; ; tries++)
        {
            var port = Next();
            if (port + offset <= IPEndPoint.MaxPort && IsFree(port + offset))
            {
                return port;
            }

            if (tries == 100)
            {
                throw new InvalidOperationException($"No free loopback port with a free partner {offset} above it after 100 tries.");
            }
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
