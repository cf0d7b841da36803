using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.LlmSimulator</c> process (the build of the tests' configuration) on a free
/// loopback port: the OpenAI-compatible endpoint workers call over HTTP, and its <c>/stats</c>.
/// Disposing kills it and writes its output to the test's output.
/// </summary>
public sealed class LlmSimulatorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly HttpClient _http;

    private LlmSimulatorProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        _http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>The OpenAI base URL to configure as a provider's <c>Endpoint</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}/v1";

    /// <summary>Starts the simulator with <paramref name="settings"/> (<c>Simulator:*</c> keys) and waits until it answers.</summary>
    /// <param name="port">The port to listen on (to restart one in place); a free one when null.</param>
    public static async Task<LlmSimulatorProcess> StartAsync(IReadOnlyDictionary<string, string> settings, int? port = null)
    {
        var assembly = WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", "Orchestrator.LlmSimulator", StringComparison.Ordinal);
        if (!File.Exists(assembly))
        {
            throw new InvalidOperationException($"{assembly} does not exist; build Orchestrator.LlmSimulator first.");
        }

        var listenPort = port ?? FreePort();
        var startInfo = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        startInfo.ArgumentList.Add(assembly);
        foreach (var key in startInfo.Environment.Keys.Where(k => k.StartsWith("OTEL_", StringComparison.Ordinal)
            || k.StartsWith("Simulator__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            startInfo.Environment.Remove(key);
        }

        startInfo.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{listenPort}";
        startInfo.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        startInfo.Environment["Logging__Console__FormatterName"] = "simple";
        startInfo.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in settings)
        {
            startInfo.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("The simulator did not start.");
        var simulator = new LlmSimulatorProcess(process, listenPort);
        process.OutputDataReceived += (_, e) => simulator.Capture(e.Data);
        process.ErrorDataReceived += (_, e) => simulator.Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await AsyncWait.WaitUntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The simulator exited with {process.ExitCode}: {simulator.Output}");
            }

            try
            {
                using var response = await simulator._http.GetAsync("stats");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, WorkerProcess.StartTimeout, "the simulator answers GET /stats");
        return simulator;
    }

    /// <summary>Everything the process wrote so far.</summary>
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

    /// <summary>The simulator's counters (<c>GET /stats</c>).</summary>
    public async Task<SimulatorStatsSnapshot> StatsAsync()
    {
        var json = await _http.GetStringAsync("stats");
        return JsonSerializer.Deserialize<SimulatorStatsSnapshot>(json, JsonSerializerOptions.Web)!;
    }

    /// <summary>Kills the process (SIGKILL): the endpoint refuses connections from now on.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        var output = Output;
        TestContext.Current.TestOutputHelper?.WriteLine($"--- llm simulator output, last part ---{Environment.NewLine}{(output.Length > 10_000 ? output[^10_000..] : output)}");
        _http.Dispose();
        _process.Dispose();
    }

    private void Capture(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            if (_output.Length < 1_000_000)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>What <c>GET /stats</c> answers.</summary>
public sealed record SimulatorStatsSnapshot(
    long Calls, long RateLimited, long CallsInsideRetryAfter, long CallsInsideRetryAfterPastGrace, long Tokens, double TokensPerMinute, long Aborted, long Completed, long Failed);
