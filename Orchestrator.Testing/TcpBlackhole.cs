using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Testing;

/// <summary>
/// A loopback TCP relay in front of a server that can go silent: while <see cref="Silent"/>, every
/// connection stays open and nothing is forwarded either way (a half-open link, a partition: no
/// reply, no reset), what was sent meanwhile is held and delivered once it speaks again. What
/// pausing the server cannot make: only the processes connected through the relay lose it.
/// </summary>
public sealed class TcpBlackhole : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _connections = [];
    private readonly Lock _gate = new();
    private readonly Task _accepting;
    private volatile TaskCompletionSource _speaking = NewSpeaking(open: true);

    private TcpBlackhole(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>The port to connect to instead of the server's.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Whether the relay forwards nothing now.</summary>
    public bool Silent => !_speaking.Task.IsCompleted;

    /// <summary>Starts relaying loopback connections to <paramref name="targetPort"/>.</summary>
    public static TcpBlackhole Start(int targetPort) => new(targetPort);

    /// <summary>Stops forwarding, in both directions, on every connection; they stay open.</summary>
    public void GoSilent()
    {
        if (!Silent)
        {
            _speaking = NewSpeaking(open: false);
        }
    }

    /// <summary>Forwards again, what was held first.</summary>
    public void Speak() => _speaking.TrySetResult();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Speak();
        lock (_gate)
        {
            _connections.ForEach(static c => c.Dispose());
        }

        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }

    private static TaskCompletionSource NewSpeaking(bool open)
    {
        var speaking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (open)
        {
            speaking.SetResult();
        }

        return speaking;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        var server = new TcpClient();
        lock (_gate)
        {
            _connections.Add(client);
            _connections.Add(server);
        }

        try
        {
            await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token).ConfigureAwait(false);
            await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream()), PumpAsync(server.GetStream(), client.GetStream())).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // The server refused, or the relay stops: the connection ends.
        }
        finally
        {
            client.Dispose();
            server.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                // Held while silent: read (so the sender's writes succeed, as over a link that went
                // dark), not forwarded.
                await _speaking.Task.WaitAsync(_stop.Token).ConfigureAwait(false);
                await to.WriteAsync(buffer.AsMemory(0, read), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }
}
