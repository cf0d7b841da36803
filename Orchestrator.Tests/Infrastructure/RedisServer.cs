using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.Tests.Infrastructure;

/// <summary>How a <see cref="RedisServer"/> is started.</summary>
public sealed record RedisServerOptions
{
    /// <summary>
    /// Keep an append-only file (<c>appendfsync everysec</c>) in <see cref="DataPath"/>, so data
    /// survives <see cref="RedisServer.StopAsync"/> / <see cref="RedisServer.StartAsync()"/>.
    /// Default <see langword="false"/>: nothing is persisted and a restart starts empty.
    /// </summary>
    public bool AppendOnly { get; init; }

    /// <summary>The working folder; a fresh temporary folder (deleted on dispose) if not given.</summary>
    public string? DataPath { get; init; }

    /// <summary>The loopback port; a free one if not given.</summary>
    public int? Port { get; init; }

    /// <summary>More <c>redis-server</c> arguments, after the others (e.g. <c>--rename-command CONFIG ""</c>).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>
/// A real <c>redis-server</c> process on a loopback port, owned by a test. Stop and start it to
/// simulate an outage: it comes back on the same port. Disposing kills it.
/// </summary>
/// <remarks>Needs <c>redis-server</c> on PATH (<c>apt-get install redis-server</c>; <c>.ci/run</c> installs it).</remarks>
public sealed class RedisServer : IAsyncDisposable
{
    /// <summary>The longest wait for the process to answer PING, or to exit.</summary>
    public static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(30);

    private readonly RedisServerOptions _options;
    private readonly string _dataPath;
    private readonly bool _ownsDataPath;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private RedisServer(RedisServerOptions options)
    {
        _options = options;
        _ownsDataPath = options.DataPath is null;
        _dataPath = options.DataPath ?? Directory.CreateTempSubdirectory("orchestrator-redis-").FullName;
        Directory.CreateDirectory(_dataPath);
        Port = options.Port ?? FreeLoopbackPort();
    }

    /// <summary>The port the server listens on; the same across restarts.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string, <c>127.0.0.1:{Port}</c>; append options as needed.</summary>
    public string ConnectionString => $"127.0.0.1:{Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    /// <summary>Whether the process is running (it may still be loading).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a new, separate server and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync(RedisServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = new RedisServer(options ?? new RedisServerOptions());
        try
        {
            await server.StartAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>(Re)starts the process on the same port and waits until it answers PING.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            return;
        }

        var startInfo = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _dataPath,
        };
        foreach (var arg in Arguments())
        {
            startInfo.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException("redis-server did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "redis-server is not on PATH. Install it with 'sudo apt-get install redis-server'.", e);
        }

        // If the test host exits without disposing (a crash, a hang killed by CI), leave no redis-server behind.
        AppDomain.CurrentDomain.ProcessExit += KillOnExit;
        process.OutputDataReceived += (_, e) => Capture(e.Data);
        process.ErrorDataReceived += (_, e) => Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var stopwatch = Stopwatch.StartNew();
        while (!await PingAsync(cancellationToken))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"redis-server on port {Port} exited with code {process.ExitCode}:{Environment.NewLine}{Output()}");
            }

            if (stopwatch.Elapsed > ProcessTimeout)
            {
                throw new TimeoutException($"redis-server on port {Port} did not answer PING within {ProcessTimeout}.{Environment.NewLine}{Output()}");
            }

            await Task.Delay(25, cancellationToken);
        }
    }

    /// <summary>
    /// Stops the server the way an operator would (<c>SHUTDOWN</c>: the append-only file, if any,
    /// is flushed) and waits for the process to exit. Clients then see connection refused.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (!IsRunning)
        {
            return;
        }

        await SendAsync(_options.AppendOnly ? "SHUTDOWN" : "SHUTDOWN NOSAVE", cancellationToken);
        await WaitForExitOrKillAsync(cancellationToken);
    }

    /// <summary>Kills the process (SIGKILL), as a crash would: nothing is flushed.</summary>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        if (_process is not { } process || process.HasExited)
        {
            return;
        }

        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync(cancellationToken);
    }

    /// <summary>Deletes every key (<c>FLUSHALL SYNC</c>).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync("FLUSHALL SYNC", cancellationToken);
        if (reply != "+OK")
        {
            throw new InvalidOperationException($"FLUSHALL answered '{reply}'.");
        }
    }

    /// <summary>Kills the process and deletes the temporary data folder, if this server created it.</summary>
    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(ProcessTimeout);
        await KillAsync(timeout.Token);
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        _process?.Dispose();
        _process = null;
        if (_ownsDataPath)
        {
            try
            {
                Directory.Delete(_dataPath, recursive: true);
            }
            catch (IOException)
            {
                // A temp folder left behind is harmless.
            }
        }
    }

    private IEnumerable<string> Arguments()
    {
        yield return "--port";
        yield return Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        yield return "--bind";
        yield return "127.0.0.1";
        yield return "--daemonize";
        yield return "no";
        yield return "--dir";
        yield return _dataPath;
        yield return "--save";
        yield return "";
        yield return "--appendonly";
        yield return _options.AppendOnly ? "yes" : "no";
        yield return "--appendfsync";
        yield return "everysec";
        yield return "--loglevel";
        yield return "warning";
        foreach (var argument in _options.ExtraArguments)
        {
            yield return argument;
        }
    }

    private async Task WaitForExitOrKillAsync(CancellationToken cancellationToken)
    {
        if (_process is not { } process)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProcessTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(cancellationToken);
        }
    }

    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await SendAsync("PING", cancellationToken) == "+PONG";
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Sends one inline command and returns the first line of the reply ("" if the server closed the connection).</summary>
    private async Task<string> SendAsync(string command, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadLineAsync(cancellationToken) ?? string.Empty;
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        try
        {
            if (_process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
