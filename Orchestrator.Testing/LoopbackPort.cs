using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Testing;

/// <summary>Loopback ports for servers a test or a run starts.</summary>
public static class LoopbackPort
{
    // Every port handed out by this process: the OS may hand a port it just gave (its listener
    // closed) to the next caller, and two cluster nodes started at once got the same one in a CI run.
    // The second exited ("Address already in use"), its start was taken as done (the first answered
    // its PING), and the cluster was formed with two masters, which cannot fail over.
    private static readonly HashSet<int> Handed = [];
    private static readonly Lock Gate = new();

    /// <summary>A loopback port nobody listens on right now (the OS picks it), never one this process was given before.</summary>
    public static int Next()
    {
        for (var tries = 0; tries < 1_000; tries++)
        {
            int port;
            using (var listener = new TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }

            lock (Gate)
            {
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }

        throw new InvalidOperationException("No loopback port this process was not given before after 1,000 tries.");
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
