using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Orchestrator.Testing;

/// <summary>How a <see cref="ChildProcess"/> is started.</summary>
public sealed record ChildProcessOptions
{
    /// <summary>A label for logs and failure messages ("worker-1").</summary>
    public required string Name { get; init; }

    /// <summary>The executable: "redis-server", <see cref="ChildProcess.DotnetHost"/>, any program on PATH.</summary>
    public required string FileName { get; init; }

    /// <summary>The arguments, passed as they are (no shell quoting).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Environment variables set on top of the inherited ones.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>Inherited environment variables to drop (a developer's settings that must not leak in); none if not given.</summary>
    public Func<string, bool>? DropInherited { get; init; }

    /// <summary>The working folder; the current one if not given.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>A file the output is appended to, line by line; none if not given.</summary>
    public string? LogPath { get; init; }

    /// <summary>Called with every output line (stdout and stderr), on a thread-pool thread.</summary>
    public Action<string>? OnLine { get; init; }

    /// <summary>How much output is kept in memory for <see cref="ChildProcess.Output"/> (characters, default 4,000,000); later lines are not kept.</summary>
    public int MaxBufferedChars { get; init; } = 4_000_000;
}

/// <summary>
/// A child process (redis-server, the API, a worker, any program): its output is kept in memory
/// (bounded) and optionally appended to a log file; it can be signalled (SIGTERM, SIGKILL, SIGSTOP,
/// SIGCONT); every wait is bounded. Disposing kills the whole process tree, and so does the
/// parent's exit if it was never disposed: no process is left behind.
/// </summary>
public sealed class ChildProcess : IDisposable, IAsyncDisposable
{
    /// <summary>The longest wait for a killed process to be reaped.</summary>
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly ChildProcessOptions _options;
    private readonly StringBuilder _output = new();
    private readonly StreamWriter? _log;
    private readonly Lock _logLock = new();
    private int _disposed;

    private ChildProcess(Process process, ChildProcessOptions options, StreamWriter? log)
    {
        _process = process;
        _options = options;
        _log = log;
        Pid = process.Id;
    }

    /// <summary>The label given at start.</summary>
    public string Name => _options.Name;

    /// <summary>The operating-system process id.</summary>
    public int Pid { get; }

    /// <summary>Whether the process has exited (or this wrapper was disposed).</summary>
    public bool HasExited => Volatile.Read(ref _disposed) == 1 || _process.HasExited;

    /// <summary>The exit code; only valid once the process has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Whether the process was paused (SIGSTOP) and not resumed since.</summary>
    public bool Paused { get; private set; }

    /// <summary>Whether it was stopped or killed through this wrapper; a process that exited without this died by itself.</summary>
    public bool StoppedByOwner { get; private set; }

    /// <summary>CPU time (user + system) the process has used so far.</summary>
    public TimeSpan TotalProcessorTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Everything the process wrote to stdout and stderr so far (up to <see cref="ChildProcessOptions.MaxBufferedChars"/>).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The dotnet host running this process (<c>DOTNET_HOST_PATH</c> when set), to start a built <c>.dll</c>.</summary>
    public static string DotnetHost =>
        System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    /// <summary>Starts the process described by <paramref name="options"/>.</summary>
    public static ChildProcess Start(ChildProcessOptions options)
    {
        var startInfo = new ProcessStartInfo(options.FileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = options.WorkingDirectory ?? System.Environment.CurrentDirectory,
        };
        foreach (var argument in options.Arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (options.DropInherited is { } drop)
        {
            foreach (var key in startInfo.Environment.Keys.Where(drop).ToList())
            {
                startInfo.Environment.Remove(key);
            }
        }

        foreach (var (key, value) in options.Environment)
        {
            startInfo.Environment[key] = value;
        }

        Process process;
        try
        {
            process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{options.Name} did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{options.FileName} could not be started for {options.Name} (is it on PATH?).", e);
        }

        var log = options.LogPath is null ? null : new StreamWriter(options.LogPath, append: true) { AutoFlush = false };
        var child = new ChildProcess(process, options, log);
        // If the parent exits without disposing (a crash, a hang killed by CI), leave nothing behind.
        AppDomain.CurrentDomain.ProcessExit += child.KillOnExit;
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        child.Write($"--- {options.Name} started, pid {child.Pid}");
        return child;
    }

    /// <summary>SIGKILL to the whole tree, as a crash or an OOM kill would; waits (bounded) until it is gone.</summary>
    public async Task KillAsync(TimeSpan? timeout = null)
    {
        StoppedByOwner = true;
        Write($"--- {Name} SIGKILL");
        KillTree();
        await WaitForExitAsync(timeout ?? KillTimeout).ConfigureAwait(false);
    }

    /// <summary>SIGTERM (a graceful stop, as an orchestrator would do); true when it exited within <paramref name="grace"/>.</summary>
    public async Task<bool> TerminateAsync(TimeSpan grace)
    {
        if (HasExited)
        {
            return true;
        }

        Resume();
        StoppedByOwner = true;
        Write($"--- {Name} SIGTERM");
        Signals.Send(Pid, Signals.Term);
        return await WaitForExitAsync(grace).ConfigureAwait(false);
    }

    /// <summary>SIGTERM; SIGKILL if it is not gone within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (!await TerminateAsync(grace).ConfigureAwait(false))
        {
            await KillAsync().ConfigureAwait(false);
        }
    }

    /// <summary>SIGSTOP: the process keeps its sockets and leases but does nothing (a GC pause, a frozen VM).</summary>
    public void Pause()
    {
        Write($"--- {Name} SIGSTOP");
        Paused = Signals.Send(Pid, Signals.Stop);
    }

    /// <summary>SIGCONT: the paused process carries on as if nothing happened.</summary>
    public void Resume()
    {
        if (!Paused)
        {
            return;
        }

        Write($"--- {Name} SIGCONT");
        Signals.Send(Pid, Signals.Continue);
        Paused = false;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit; false if it still runs.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Resident memory (VmRSS) in MiB, from /proc; null when the process is gone.</summary>
    public double? ResidentMiB() => StatusMiB("VmRSS:");

    /// <summary>The most resident memory the process has had so far (VmHWM, the kernel's high-water mark) in MiB; null when it is gone.</summary>
    public double? PeakResidentMiB() => StatusMiB("VmHWM:");

    private double? StatusMiB(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{Pid.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    var kb = long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
        }
        catch (IOException)
        {
            // Exited meanwhile.
        }

        return null;
    }

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000)
    {
        var output = Output;
        return output.Length <= chars ? output : "…" + output[^chars..];
    }

    /// <summary>Kills the process tree if it still runs and closes the log.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        KillTree();
        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        _process.Dispose();
        lock (_logLock)
        {
            _log?.Dispose();
        }
    }

    /// <summary>Kills the process tree if it still runs, waits (bounded) until it is reaped, and closes the log.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _disposed) == 0 && !_process.HasExited)
        {
            KillTree();
            await WaitForExitAsync(KillTimeout).ConfigureAwait(false);
        }

        Dispose();
    }

    private void KillTree()
    {
        try
        {
            if (!_process.HasExited)
            {
                // A paused process still dies of SIGKILL.
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private void KillOnExit(object? sender, EventArgs e) => KillTree();

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _options.OnLine?.Invoke(line);
        lock (_output)
        {
            if (_output.Length < _options.MaxBufferedChars)
            {
                _output.AppendLine(line);
            }
        }

        Write(line);
    }

    private void Write(string line)
    {
        if (_log is null)
        {
            return;
        }

        lock (_logLock)
        {
            try
            {
                _log.WriteLine(line);
                _log.Flush();
            }
            catch (ObjectDisposedException)
            {
                // Output after the owner closed the log.
            }
        }
    }
}
