using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using StackExchange.Redis;

namespace Orchestrator.Testing;

/// <summary>How a <see cref="RedisServer"/> is started.</summary>
public sealed record RedisServerOptions
{
    /// <summary>
    /// Keep an append-only file (<c>appendfsync everysec</c>) in <see cref="DataPath"/>, so data
    /// survives <see cref="RedisServer.StopAsync"/> / <see cref="RedisServer.StartAsync(CancellationToken)"/>.
    /// Default <see langword="false"/>: nothing is persisted and a restart starts empty.
    /// </summary>
    public bool AppendOnly { get; init; }

    /// <summary>The working folder; a fresh temporary folder (deleted on dispose) if not given.</summary>
    public string? DataPath { get; init; }

    /// <summary>The loopback port; a free one if not given.</summary>
    public int? Port { get; init; }

    /// <summary>A file the server's output is appended to (across restarts); none if not given.</summary>
    public string? LogPath { get; init; }

    /// <summary>redis-server's <c>loglevel</c>; default <c>warning</c>.</summary>
    public string LogLevel { get; init; } = "warning";

    /// <summary>Further configuration directives (<c>maxmemory</c> → <c>100mb</c>), passed as <c>--name value</c> after the defaults.</summary>
    public IReadOnlyDictionary<string, string> Config { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Raw arguments after <see cref="Config"/>, for directives that take several values or repeat
    /// (<c>--rename-command CONFIG ""</c>).
    /// </summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];
}

/// <summary>
/// A real <c>redis-server</c> process on a loopback port, outside the AppHost. Stop it (SHUTDOWN,
/// SIGTERM, SIGKILL) or freeze it (SIGSTOP) to simulate an outage; start it again and it comes
/// back on the same port with the same data folder. Disposing kills it.
/// </summary>
/// <remarks>Needs <c>redis-server</c> on PATH (<c>apt-get install redis-server</c>; <c>.ci/run</c> installs it).</remarks>
public sealed class RedisServer : IAsyncDisposable, IDisposable
{
    /// <summary>The longest wait for the process to answer PING, or to exit.</summary>
    public static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(30);

    private readonly RedisServerOptions _options;
    private readonly string _dataPath;
    private readonly bool _ownsDataPath;
    private readonly List<int> _pids = [];
    private ChildProcess? _process;

    private RedisServer(RedisServerOptions options)
    {
        _options = options;
        _ownsDataPath = options.DataPath is null;
        _dataPath = options.DataPath ?? Directory.CreateTempSubdirectory("orchestrator-redis-").FullName;
        Directory.CreateDirectory(_dataPath);
        Port = options.Port ?? LoopbackPort.Next();
    }

    /// <summary>The port the server listens on; the same across restarts.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string, <c>127.0.0.1:{Port}</c>; append options as needed.</summary>
    public string ConnectionString => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Whether the process is running (it may still be loading, or paused).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The last part of the server's log (its current or last process), for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process?.Tail(chars) ?? "";

    /// <summary>The running process's id (0 when it is not running).</summary>
    public int ProcessId => _process is { HasExited: false } process ? process.Pid : 0;

    /// <summary>Every redis-server process id this server started (for a no-process-left-behind check).</summary>
    public IReadOnlyList<int> StartedPids => _pids;

    /// <summary>A server that is not started yet (call <see cref="StartAsync(CancellationToken)"/>).</summary>
    public static RedisServer Create(RedisServerOptions? options = null) => new(options ?? new RedisServerOptions());

    /// <summary>Starts a new, separate server and waits until it answers PING.</summary>
    public static async Task<RedisServer> StartAsync(RedisServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        var server = Create(options);
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

    /// <summary>
    /// (Re)starts the process on the same port and data folder and waits until it answers PING
    /// (a server still loading its append-only file answers LOADING, and is waited for).
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            return;
        }

        _process?.Dispose();
        var process = ChildProcess.Start(new ChildProcessOptions
        {
            Name = $"redis-server:{Port.ToString(CultureInfo.InvariantCulture)}",
            FileName = "redis-server",
            Arguments = [.. Arguments()],
            WorkingDirectory = _dataPath,
            LogPath = _options.LogPath,
        });
        _process = process;
        _pids.Add(process.Pid);

        var stopwatch = Stopwatch.StartNew();
        while (!await PingAsync(cancellationToken))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException(
                    $"redis-server on port {Port} exited with code {process.ExitCode}:{Environment.NewLine}{process.Tail()}");
            }

            if (stopwatch.Elapsed > ProcessTimeout)
            {
                throw new TimeoutException($"redis-server on port {Port} did not answer PING within {ProcessTimeout}.{Environment.NewLine}{process.Tail()}");
            }

            await Task.Delay(25, cancellationToken);
        }
    }

    /// <summary>
    /// Stops the server the way an operator would (<c>SHUTDOWN</c>: the append-only file, if any,
    /// is flushed) and waits for the process to exit (SIGKILL after <see cref="ProcessTimeout"/>).
    /// Clients then see connection refused.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        process.Resume();
        await SendAsync(_options.AppendOnly ? "SHUTDOWN" : "SHUTDOWN NOSAVE", cancellationToken);
        if (!await process.WaitForExitAsync(ProcessTimeout, cancellationToken))
        {
            await process.KillAsync();
        }
    }

    /// <summary>SIGTERM: Redis treats it as SHUTDOWN (the append-only file is flushed); SIGKILL after <see cref="ProcessTimeout"/>.</summary>
    public async Task TerminateAsync()
    {
        if (_process is { HasExited: false } process)
        {
            await process.StopAsync(ProcessTimeout);
        }
    }

    /// <summary>Kills the process (SIGKILL), as a crash would: up to the last second of append-only writes may be lost.</summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            await process.KillAsync();
        }
    }

    /// <summary>Freezes the process (SIGSTOP): clients stay connected and get no answers.</summary>
    public void Pause() => _process?.Pause();

    /// <summary>Lets a paused server run again (SIGCONT).</summary>
    public void Resume() => _process?.Resume();

    /// <summary>Deletes every key (<c>FLUSHALL SYNC</c>).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync("FLUSHALL SYNC", cancellationToken);
        if (reply != "+OK")
        {
            throw new InvalidOperationException($"FLUSHALL answered '{reply}'.");
        }
    }

    /// <summary>A StackExchange.Redis connection to this server; <paramref name="options"/> are appended to the connection string.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string? options = null) =>
        ConnectionMultiplexer.ConnectAsync(options is null ? ConnectionString : $"{ConnectionString},{options}");

    /// <summary>Kills the process and deletes the temporary data folder, if this server created it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            await process.DisposeAsync();
        }

        Dispose();
    }

    /// <summary>Kills the process (without waiting for it to be reaped) and deletes the temporary data folder, if this server created it.</summary>
    public void Dispose()
    {
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
            catch (UnauthorizedAccessException)
            {
                // Likewise.
            }
        }
    }

    private IEnumerable<string> Arguments()
    {
        yield return "--port";
        yield return Port.ToString(CultureInfo.InvariantCulture);
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
        yield return _options.LogLevel;
        foreach (var (name, value) in _options.Config)
        {
            yield return "--" + name;
            yield return value;
        }

        foreach (var argument in _options.ExtraArguments)
        {
            yield return argument;
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
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // No answer within the command's own timeout (a paused or busy server).
            return false;
        }
    }

    /// <summary>Sends one inline command and returns the first line of the reply ("" if the server closed the connection).</summary>
    private async Task<string> SendAsync(string command, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        return await reader.ReadLineAsync(timeout.Token) ?? string.Empty;
    }
}
