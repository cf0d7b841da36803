using System.Globalization;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.Api</c> process (<c>dotnet Orchestrator.Api.dll</c> from the same build
/// configuration as the tests) on a free loopback port, pointed at a test's Redis. Started, it
/// answers <c>/health</c>. Its output goes to the test's output on dispose; disposing kills it.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    /// <summary>The longest wait for the API to answer <c>/health</c> (the 2 cores are often busy).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;

    private ApiProcess(ChildProcess process, Uri address)
    {
        _process = process;
        Address = address;
    }

    /// <summary>The process id, for signals (<see cref="Signals"/>).</summary>
    public int Pid => _process.Pid;

    /// <summary>Where the API listens.</summary>
    public Uri Address { get; }

    /// <summary>A label for diagnostics ("api-1").</summary>
    public string Name => _process.Name;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The built API of the tests' configuration and framework (the test project references it, so it is built).</summary>
    public static string AssemblyPath { get; } = ServiceAssembly.Find("Orchestrator.Api");

    /// <summary>
    /// Starts the API against <paramref name="redisConnectionString"/> and waits until <c>/health</c>
    /// answers 200. <paramref name="settings"/> are configuration keys as <c>Section:Key</c>.
    /// <paramref name="favoured"/>: at a higher scheduling priority (<see cref="ServiceProcess.Favoured"/>),
    /// for a test of the API's own latency. <paramref name="address"/>: where it listens (another, stopped,
    /// API's, for a restart its clients do not see); by default a free loopback port.
    /// </summary>
    public static async Task<ApiProcess> StartAsync(
        string redisConnectionString, IReadOnlyDictionary<string, string> settings, string name = "api", bool favoured = false, Uri? address = null)
    {
        for (var tries = 1; ; tries++)
        {
            var api = Start(redisConnectionString, settings, name, favoured, address);
            try
            {
                await api.WaitUntilHealthyAsync();
                return api;
            }
            catch when (address is null && tries < 3 && api.HasExited && api.Tail().Contains("address already in use", StringComparison.Ordinal))
            {
                // The free port picked was taken before the API bound it (another process's outgoing
                // connection or a cluster node's bus port took it meanwhile: seen once in CI): another port.
                await api.DisposeAsync();
            }
            catch
            {
                await api.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>
    /// Starts the API as <see cref="StartAsync"/> does, without waiting for it to answer (for a test
    /// of a start before Redis is up); <see cref="WaitUntilHealthyAsync"/> waits.
    /// </summary>
    public static ApiProcess Start(
        string redisConnectionString, IReadOnlyDictionary<string, string> settings, string name = "api", bool favoured = false, Uri? address = null)
    {
        address ??= new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ConnectionStrings:redis"] = redisConnectionString,
            ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            environment[key] = value;
        }

        var options = ServiceProcess.Options(name, AssemblyPath, environment);
        return new ApiProcess(ChildProcess.Start(favoured ? ServiceProcess.Favoured(options) : options), address);
    }

    /// <summary>Waits until <c>/health</c> answers 200 (Redis answers), at most <see cref="StartTimeout"/>.</summary>
    public Task WaitUntilHealthyAsync() => ServiceHealth.WaitAsync(_process, Address, StartTimeout);

    /// <summary>An <see cref="HttpClient"/> to the API sending <paramref name="key"/> as a bearer token (none when null).</summary>
    public HttpClient CreateClient(string? key)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = ApiFactory.RequestTimeout };
        if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }

    /// <summary>SIGTERM, as a rolling restart sends it; true when it exited within <paramref name="grace"/>.</summary>
    public Task<bool> TerminateAsync(TimeSpan grace) => _process.TerminateAsync(grace);

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process.Tail(chars);

    /// <summary>Kills the process if it still runs and writes the tail of its output to the test's output.</summary>
    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"--- {Name} (pid {_process.Pid}) output, last part ---{Environment.NewLine}{Tail()}");
    }
}
