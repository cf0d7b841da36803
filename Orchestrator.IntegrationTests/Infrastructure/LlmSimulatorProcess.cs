using System.Globalization;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.LlmSimulator</c> process (the build of the tests' configuration) on a free
/// loopback port, on the shared <see cref="ChildProcess"/>: the OpenAI-compatible endpoint workers
/// call over HTTP, and its <c>/stats</c>. Disposing kills it and writes the tail of its output to
/// the test's output.
/// </summary>
public sealed class LlmSimulatorProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly HttpClient _http;

    private LlmSimulatorProcess(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
        _http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>The OpenAI base URL to configure as a provider's <c>Endpoint</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/v1";

    /// <summary>The built simulator of the tests' configuration and framework (the test project references it, so it is built).</summary>
    public static string AssemblyPath { get; } = ServiceAssembly.Find("Orchestrator.LlmSimulator");

    /// <summary>Starts the simulator with <paramref name="settings"/> (<c>Simulator:*</c> keys) and waits until it answers.</summary>
    /// <param name="port">The port to listen on (to restart one in place); a free one when null.</param>
    public static async Task<LlmSimulatorProcess> StartAsync(IReadOnlyDictionary<string, string> settings, int? port = null)
    {
        var listenPort = port ?? LoopbackPort.Next();
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{listenPort.ToString(CultureInfo.InvariantCulture)}",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
        };
        foreach (var (key, value) in settings)
        {
            environment[key] = value;
        }

        var simulator = new LlmSimulatorProcess(ServiceProcess.Start("llm-simulator", AssemblyPath, environment), listenPort);
        try
        {
            await AsyncWait.WaitUntilAsync(async () =>
            {
                if (simulator._process.HasExited)
                {
                    throw new InvalidOperationException(
                        $"The simulator exited with {simulator._process.ExitCode}:{Environment.NewLine}{simulator._process.Tail()}");
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
        catch
        {
            await simulator.DisposeAsync();
            throw;
        }
    }

    /// <summary>Everything the process wrote so far.</summary>
    public string Output => _process.Output;

    /// <summary>The simulator's counters (<c>GET /stats</c>).</summary>
    public async Task<SimulatorStatsSnapshot> StatsAsync()
    {
        var json = await _http.GetStringAsync("stats");
        return JsonSerializer.Deserialize<SimulatorStatsSnapshot>(json, JsonSerializerOptions.Web)!;
    }

    /// <summary>Kills the process (SIGKILL, whole tree): the endpoint refuses connections from now on.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process.Tail(chars);

    /// <summary>Kills the process if it still runs and writes the tail of its output to the test's output.</summary>
    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"--- {_process.Name} (pid {_process.Pid}) output, last part ---{Environment.NewLine}{Tail()}");
        _http.Dispose();
    }
}

/// <summary>What <c>GET /stats</c> answers.</summary>
public sealed record SimulatorStatsSnapshot(
    long Calls, long RateLimited, long CallsInsideRetryAfter, long CallsInsideRetryAfterPastGrace, long Tokens, double TokensPerMinute, long Aborted, long Completed, long Failed);
