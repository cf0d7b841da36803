using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Orchestrator.Tests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.Worker</c> process (<c>dotnet Orchestrator.Worker.dll</c> from the same
/// build configuration as the tests) pointed at a test's Redis, so tests can crash it
/// (<see cref="KillAsync"/>), stop it as an orchestrator would (<see cref="StopGracefullyAsync"/>) or
/// freeze it (<see cref="Pause"/>). Its output is captured, and written to the test's output on
/// dispose, so a failing test shows what the worker did. Disposing kills it.
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    /// <summary>The longest wait for a worker to log that it started (the 2 cores are often busy).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The longest wait for a killed process to be reaped.</summary>
    public static readonly TimeSpan KillTimeout = TimeSpan.FromSeconds(30);

    private const int MaxOutputChars = 4_000_000;

    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private WorkerProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>A label for diagnostics ("worker-1").</summary>
    public string Name { get; }

    /// <summary>The operating-system process id (also part of the worker's consumer name).</summary>
    public int Id => _process.Id;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; only valid once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The consumer name the worker logged at start, once it has.</summary>
    public string? Consumer => _started.Task.IsCompletedSuccessfully ? _started.Task.Result : null;

    /// <summary>CPU time (user + system) the process has used so far.</summary>
    public TimeSpan TotalProcessorTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
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

    /// <summary>
    /// Starts a worker against <paramref name="redisConnectionString"/>. <paramref name="settings"/>
    /// are configuration keys as <c>Section:Key</c> (passed as <c>Section__Key</c> environment variables).
    /// </summary>
    /// <remarks>
    /// <paramref name="assemblyPath"/> runs another service the same way (<see cref="ApiAssemblyPath"/>
    /// for the API); only the worker logs the start line <see cref="WaitUntilStartedAsync"/> waits for.
    /// </remarks>
    public static WorkerProcess Start(
        string redisConnectionString, IReadOnlyDictionary<string, string>? settings = null, string name = "worker", string? assemblyPath = null)
    {
        assemblyPath ??= WorkerAssemblyPath;
        var startInfo = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
        };
        startInfo.ArgumentList.Add(assemblyPath);

        // Nothing from the test host's environment may redirect the worker (an OTLP endpoint, a
        // developer's ConnectionStrings__redis, another section's settings).
        foreach (var key in startInfo.Environment.Keys.ToList())
        {
            if (key.StartsWith("OTEL_", StringComparison.Ordinal)
                || key.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Worker__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Retry__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Simulator__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal))
            {
                startInfo.Environment.Remove(key);
            }
        }

        startInfo.Environment["ConnectionStrings__redis"] = redisConnectionString;
        startInfo.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        startInfo.Environment["DOTNET_ENVIRONMENT"] = "Development";
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        // The Redis client logs every connection step at Information; keep the worker's own lines readable.
        startInfo.Environment["Logging__LogLevel__StackExchange.Redis"] = "Warning";
        // The per-job "completed" line (Debug) is how these tests see which worker finished a job.
        startInfo.Environment["Logging__LogLevel__Orchestrator.Worker.Processing.JobProcessor"] = "Debug";
        startInfo.Environment["Logging__Console__FormatterName"] = "simple";
        startInfo.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        startInfo.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("The worker process did not start.");
        var worker = new WorkerProcess(process, name);
        AppDomain.CurrentDomain.ProcessExit += worker.KillOnExit;
        process.OutputDataReceived += (_, e) => worker.Capture(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    /// <summary>The worker assembly built next to the tests (same configuration).</summary>
    public static string WorkerAssemblyPath { get; } = FindServiceAssembly("Orchestrator.Worker");

    /// <summary>The API assembly built next to the tests (same configuration).</summary>
    public static string ApiAssemblyPath { get; } = FindServiceAssembly("Orchestrator.Api");

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Name} did not exit within {timeout}.{Environment.NewLine}{Tail()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Waits until the worker has logged "Worker … started" (it is then reading jobs), or fails with its output.</summary>
    public async Task WaitUntilStartedAsync(CancellationToken cancellationToken = default)
    {
        var exited = _process.WaitForExitAsync(cancellationToken);
        Task first;
        try
        {
            first = await Task.WhenAny(_started.Task, exited).WaitAsync(StartTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"{Name} did not log its start within {StartTimeout}.{Environment.NewLine}{Tail()}");
        }

        if (first != _started.Task)
        {
            throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it started.{Environment.NewLine}{Tail()}");
        }
    }

    /// <summary>Kills the process (SIGKILL, whole tree), as a crash or an OOM kill would: nothing is handed back.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(KillTimeout);
    }

    /// <summary>
    /// Sends SIGTERM (what Kubernetes or systemd sends) and waits up to <paramref name="timeout"/>
    /// for the process to exit. Returns how long the exit took; throws <see cref="TimeoutException"/>
    /// (after killing it) when it did not exit in time.
    /// </summary>
    public async Task<TimeSpan> StopGracefullyAsync(TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        if (_process.HasExited)
        {
            return TimeSpan.Zero;
        }

        await SignalAsync("TERM");
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return stopwatch.Elapsed;
        }
        catch (TimeoutException)
        {
            await KillAsync();
            throw new TimeoutException($"{Name} did not exit within {timeout} of SIGTERM.{Environment.NewLine}{Tail()}");
        }
    }

    /// <summary>Freezes the process (SIGSTOP), as a long GC pause, a VM stall or a debugger would.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>Lets a paused process run again (SIGCONT).</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    /// <summary>Job ids this worker logged as completed ("Job {JobId} completed on attempt {Attempt}").</summary>
    public IReadOnlyList<string> CompletedJobIds() =>
        [.. CompletedLine().Matches(Output).Select(m => m.Groups["id"].Value)];

    /// <summary>Kills the process if it still runs and writes the tail of its output to the test's output.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // A paused process still dies of SIGKILL.
                await KillAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        AppDomain.CurrentDomain.ProcessExit -= KillOnExit;
        TestContext.Current.TestOutputHelper?.WriteLine($"--- {Name} (pid {_process.Id}) output, last part ---{Environment.NewLine}{Tail()}");
        _process.Dispose();
    }

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000)
    {
        var output = Output;
        return output.Length <= chars ? output : "…" + output[^chars..];
    }

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("'kill' did not start.");
        await kill.WaitForExitAsync().WaitAsync(KillTimeout);
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}.");
        }
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (_started.Task.IsCompleted is false && StartedLine().Match(line) is { Success: true } match)
        {
            _started.TrySetResult(match.Groups["consumer"].Value);
        }

        lock (_output)
        {
            if (_output.Length < MaxOutputChars)
            {
                _output.AppendLine(line);
            }
        }
    }

    private void KillOnExit(object? sender, EventArgs e)
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    // The tests run from <repo>/Orchestrator.Tests/bin/<Configuration>/net10.0/; a service is built
    // (a project reference) to <repo>/<project>/bin/<Configuration>/net10.0/.
    private static string FindServiceAssembly(string project)
    {
        var testBin = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var targetFramework = testBin.Name;
        var configuration = testBin.Parent?.Name
            ?? throw new InvalidOperationException($"Cannot tell the build configuration from {testBin.FullName}.");

        var root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Orchestrator.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new InvalidOperationException($"No Orchestrator.sln above {testBin.FullName}.");
        }

        var path = Path.Combine(root.FullName, project, "bin", configuration, targetFramework, project + ".dll");
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{path} does not exist; build {project} ({configuration}) first.");
    }

    [GeneratedRegex(@"Worker (?<consumer>\S+) started:")]
    private static partial Regex StartedLine();

    [GeneratedRegex(@"Job (?<id>[A-Za-z0-9_-]{22}) completed on attempt \d+")]
    private static partial Regex CompletedLine();
}
