using System.Diagnostics;
using System.Globalization;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// A real service, run as deployed: <c>dotnet Orchestrator.Worker.dll</c> (or the API) from the
/// Release build, configured through environment variables. Its log output is drained (kept for
/// an error report) so a full pipe never slows it down.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _lastLines = new();

    private ServiceProcess(Process process) => _process = process;

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public static ServiceProcess Start(string assemblyPath, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException($"{assemblyPath} is missing; build the solution in this configuration first.", assemblyPath);
        }

        // Profiling: ORCHESTRATOR_BENCH_TRACE_DIR=/tmp/traces runs each service under
        // `dotnet-trace collect --profile dotnet-sampled-thread-time` (CPU and RSS figures then describe dotnet-trace, not the service).
        var traceDirectory = Environment.GetEnvironmentVariable("ORCHESTRATOR_BENCH_TRACE_DIR");
        var startInfo = new ProcessStartInfo(traceDirectory is null ? "dotnet" : "dotnet-trace")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
        };
        if (traceDirectory is not null)
        {
            var output = Path.Combine(traceDirectory, $"{Path.GetFileNameWithoutExtension(assemblyPath)}-{DateTime.UtcNow:HHmmssfff}.nettrace");
            foreach (var arg in new[] { "collect", "--profile", "dotnet-sampled-thread-time", "-o", output, "--", "dotnet" })
            {
                startInfo.ArgumentList.Add(arg);
            }
        }

        startInfo.ArgumentList.Add(assemblyPath);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["DOTNET_ENVIRONMENT"] = "Production";
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (name, value) in environment)
        {
            startInfo.Environment[name] = value;
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"{assemblyPath} did not start.");
        var service = new ServiceProcess(process);
        process.OutputDataReceived += (_, e) => service.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => service.Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Resident memory (VmRSS) in MiB, from /proc.</summary>
    public double? ResidentMiB()
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kb = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                    return kb / 1024.0;
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    /// <summary>SIGKILL, as a crash: no drain, no hand-back.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Sends a signal by name (STOP, CONT, …) through kill(1).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGTERM (graceful shutdown), then SIGKILL after a few seconds.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }
    }

    public string Tail()
    {
        lock (_lastLines)
        {
            return string.Join(Environment.NewLine, _lastLines);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lastLines)
        {
            _lastLines.Enqueue(line);
            if (_lastLines.Count > 40)
            {
                _lastLines.Dequeue();
            }
        }
    }
}
