using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.Chaos;

/// <summary>
/// The run's redis-server: AOF with <c>appendfsync everysec</c>, its own folder, a fixed loopback
/// port across restarts.
/// </summary>
internal sealed class RedisProcess(string dataPath, string logPath, int port) : IDisposable
{
    private readonly List<int> _pids = [];
    private ChildProcess? _process;

    /// <summary>Every redis-server process id this run started (for the no-process-left-behind check).</summary>
    public IReadOnlyList<int> StartedPids => _pids;

    public int Port => port;

    public string ConnectionString => $"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";

    public async Task StartAsync(TimeSpan timeout)
    {
        Directory.CreateDirectory(dataPath);
        _process = ChildProcess.Start("redis-server", "redis-server",
            [
                "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--daemonize", "no",
                "--dir", dataPath, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--loglevel", "notice",
            ],
            new Dictionary<string, string>(), logPath);
        _pids.Add(_process.Pid);
        var stopwatch = Stopwatch.StartNew();
        while (await SendAsync("PING") != "+PONG")
        {
            if (_process.HasExited || stopwatch.Elapsed > timeout)
            {
                throw new InvalidOperationException($"redis-server on port {port} did not answer PING within {timeout.TotalSeconds:0} s; see {logPath}.");
            }

            await Task.Delay(25);
        }
    }

    /// <summary>SHUTDOWN: Redis fsyncs the AOF and exits. Nothing acknowledged is lost.</summary>
    public async Task ShutdownAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        await SendAsync("SHUTDOWN");
        if (!await process.WaitForExitAsync(timeout))
        {
            await process.KillAsync(timeout);
        }

        process.Dispose();
        _process = null;
    }

    /// <summary>SIGTERM: Redis treats it as SHUTDOWN (AOF flushed).</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        await process.StopAsync(timeout);
        process.Dispose();
        _process = null;
    }

    /// <summary>SIGKILL: up to the last second of AOF writes (everysec) may be lost.</summary>
    public async Task KillAsync(TimeSpan timeout)
    {
        if (_process is null)
        {
            return;
        }

        await _process.KillAsync(timeout);
        _process.Dispose();
        _process = null;
    }

    public void Dispose() => _process?.Dispose();

    /// <summary>One inline command; the first reply line, or "" when Redis is not there.</summary>
    private async Task<string> SendAsync(string command)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port, cts.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), cts.Token);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            return await reader.ReadLineAsync(cts.Token) ?? string.Empty;
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return string.Empty;
        }
    }

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
