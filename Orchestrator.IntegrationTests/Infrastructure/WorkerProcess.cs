using System.Diagnostics;
using System.Text.RegularExpressions;
using Orchestrator.Testing;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.Worker</c> process (<c>dotnet Orchestrator.Worker.dll</c> from the same
/// build configuration as the tests) pointed at a test's Redis, on the shared <see cref="ChildProcess"/>.
/// What this layer adds: the worker's settings, knowing when it started (and its consumer name),
/// which jobs it completed (from its log), and its output written to the test's output on dispose,
/// so a failing test shows what the worker did. Disposing kills it.
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    /// <summary>The longest wait for a worker to log that it started (the 2 cores are often busy).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly TaskCompletionSource<string> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ChildProcess _process = null!;

    private WorkerProcess()
    {
    }

    /// <summary>A label for diagnostics ("worker-1").</summary>
    public string Name => _process.Name;

    /// <summary>The operating-system process id (also part of the worker's consumer name).</summary>
    public int Id => _process.Pid;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code; only valid once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The consumer name the worker logged at start, once it has.</summary>
    public string? Consumer => _started.Task.IsCompletedSuccessfully ? _started.Task.Result : null;

    /// <summary>CPU time (user + system) the process has used so far.</summary>
    public TimeSpan TotalProcessorTime => _process.TotalProcessorTime;

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Output => _process.Output;

    /// <summary>The worker assembly built next to the tests (same configuration).</summary>
    public static string WorkerAssemblyPath { get; } = ServiceAssembly.Find("Orchestrator.Worker");

    /// <summary>
    /// Starts a worker against <paramref name="redisConnectionString"/>. <paramref name="settings"/>
    /// are configuration keys as <c>Section:Key</c> (passed as <c>Section__Key</c> environment variables).
    /// </summary>
    public static WorkerProcess Start(string redisConnectionString, IReadOnlyDictionary<string, string>? settings = null, string name = "worker")
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ConnectionStrings:redis"] = redisConnectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            // The Redis client logs every connection step at Information; keep the worker's own lines readable.
            ["Logging:LogLevel:StackExchange.Redis"] = "Warning",
            // The per-job "completed" line (Debug) is how these tests see which worker finished a job.
            ["Logging:LogLevel:Orchestrator.Worker.Processing.JobProcessor"] = "Debug",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var worker = new WorkerProcess();
        worker._process = ChildProcess.Start(ServiceProcess.Options(name, WorkerAssemblyPath, environment) with { OnLine = worker.OnLine });
        return worker;
    }

    /// <summary>Waits until the worker has logged "Worker … started" (it is then reading jobs), or fails with its output.</summary>
    public async Task WaitUntilStartedAsync(CancellationToken cancellationToken = default)
    {
        var exited = _process.WaitForExitAsync(Timeout.InfiniteTimeSpan, cancellationToken);
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
    public Task KillAsync() => _process.KillAsync();

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

        if (await _process.TerminateAsync(timeout))
        {
            return stopwatch.Elapsed;
        }

        await _process.KillAsync();
        throw new TimeoutException($"{Name} did not exit within {timeout} of SIGTERM.{Environment.NewLine}{Tail()}");
    }

    /// <summary>Freezes the process (SIGSTOP), as a long GC pause, a VM stall or a debugger would.</summary>
    public void Pause() => _process.Pause();

    /// <summary>Lets a paused process run again (SIGCONT).</summary>
    public void Resume() => _process.Resume();

    /// <summary>Job ids this worker logged as completed ("Job {JobId} completed on attempt {Attempt}").</summary>
    public IReadOnlyList<string> CompletedJobIds() =>
        [.. CompletedLine().Matches(Output).Select(m => m.Groups["id"].Value)];

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process.Tail(chars);

    /// <summary>Kills the process if it still runs and writes the tail of its output to the test's output.</summary>
    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"--- {Name} (pid {Id}) output, last part ---{Environment.NewLine}{Tail()}");
    }

    private void OnLine(string line)
    {
        if (_started.Task.IsCompleted is false && StartedLine().Match(line) is { Success: true } match)
        {
            _started.TrySetResult(match.Groups["consumer"].Value);
        }
    }

    [GeneratedRegex(@"Worker (?<consumer>\S+) started:")]
    private static partial Regex StartedLine();

    [GeneratedRegex(@"Job (?<id>[A-Za-z0-9_-]{22}) completed on attempt \d+")]
    private static partial Regex CompletedLine();
}
