using System.Diagnostics;

namespace Orchestrator.Chaos;

/// <summary>
/// A child process of the run (redis-server, the API, a worker): its output goes to a log file and
/// to an optional line observer; every stop is bounded and ends in SIGKILL.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logLock = new();
    private int _disposed;

    private ChildProcess(string name, Process process, StreamWriter log)
    {
        Name = name;
        _process = process;
        _log = log;
        Pid = process.Id;
    }

    public string Name { get; }

    public int Pid { get; }

    public bool HasExited => Volatile.Read(ref _disposed) == 1 || _process.HasExited;

    public bool Paused { get; private set; }

    /// <summary>Whether the run stopped or killed it; a process that exited without this died by itself.</summary>
    public bool StoppedByRun { get; private set; }

    /// <summary>Starts <paramref name="fileName"/>, logging to <paramref name="logPath"/>.</summary>
    public static ChildProcess Start(
        string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment,
        string logPath, Action<string>? onLine = null, string? workingDirectory = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        var log = new StreamWriter(logPath, append: true) { AutoFlush = false };
        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{name} did not start.");
        var child = new ChildProcess(name, process, log);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, onLine);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, onLine);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        child.Write($"--- {name} started, pid {child.Pid}");
        return child;
    }

    /// <summary>SIGKILL, as a crash or an OOM kill would; waits (bounded) until the process is gone.</summary>
    public async Task KillAsync(TimeSpan timeout)
    {
        StoppedByRun = true;
        Write($"--- {Name} SIGKILL");
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Exited meanwhile.
            }
        }

        await WaitForExitAsync(timeout).ConfigureAwait(false);
    }

    /// <summary>SIGTERM (a graceful stop, as an orchestrator would do); SIGKILL if it is not gone within <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        Resume();
        StoppedByRun = true;
        Write($"--- {Name} SIGTERM");
        Signals.Send(Pid, Signals.Term);
        if (!await WaitForExitAsync(grace).ConfigureAwait(false))
        {
            await KillAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
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

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (!_process.HasExited)
        {
            try
            {
                Resume();
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }

        _process.Dispose();
        lock (_logLock)
        {
            _log.Dispose();
        }
    }

    private void OnLine(string? line, Action<string>? onLine)
    {
        if (line is null)
        {
            return;
        }

        onLine?.Invoke(line);
        Write(line);
    }

    private void Write(string line)
    {
        lock (_logLock)
        {
            try
            {
                _log.WriteLine(line);
                _log.Flush();
            }
            catch (ObjectDisposedException)
            {
                // Output after the run closed its log.
            }
        }
    }
}
