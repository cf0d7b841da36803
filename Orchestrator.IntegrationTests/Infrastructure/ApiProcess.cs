using System.Diagnostics;
using System.Globalization;
using Orchestrator.Testing;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.Api</c> process (<c>dotnet Orchestrator.Api.dll</c> from the same build
/// configuration as the tests) on a free loopback port, pointed at a test's Redis. Started, it
/// answers <c>/health</c>. Its output goes to the test's output on dispose; disposing kills it.
/// </summary>
public sealed class ApiProcess : IAsyncDisposable
{
    /// <summary>The longest wait for the API to answer <c>/health</c> with 200 (the 2 cores are often busy).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;

    private ApiProcess(ChildProcess process, Uri address)
    {
        _process = process;
        Address = address;
    }

    /// <summary>Where the API listens (<c>http://127.0.0.1:{port}/</c>).</summary>
    public Uri Address { get; }

    /// <summary>A label for diagnostics ("api-1").</summary>
    public string Name => _process.Name;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The API assembly built next to the tests (same configuration).</summary>
    public static string AssemblyPath { get; } = ServiceAssembly.Find("Orchestrator.Api");

    /// <summary>
    /// Starts an API against <paramref name="redisConnectionString"/> and waits until <c>/health</c>
    /// answers 200. <paramref name="settings"/> are configuration keys as <c>Section:Key</c>.
    /// </summary>
    public static async Task<ApiProcess> StartAsync(
        string redisConnectionString, IReadOnlyDictionary<string, string>? settings = null, string name = "api")
    {
        var address = new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}/");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ConnectionStrings__redis"] = redisConnectionString,
            ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__StackExchange.Redis"] = "Warning",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var api = new ApiProcess(ChildProcess.Start(new ChildProcessOptions
        {
            Name = name,
            FileName = ChildProcess.DotnetHost,
            Arguments = [AssemblyPath],
            Environment = environment,
            // Nothing from the test host's environment may redirect the API.
            DropInherited = static key => key.StartsWith("OTEL_", StringComparison.Ordinal)
                || key.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Api__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Redis__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Retry__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal),
            WorkingDirectory = Path.GetDirectoryName(AssemblyPath),
        }), address);
        try
        {
            await api.WaitUntilHealthyAsync();
            return api;
        }
        catch
        {
            await api.DisposeAsync();
            throw;
        }
    }

    /// <summary>An <see cref="HttpClient"/> to this API; every request bounded by <paramref name="timeout"/>.</summary>
    public HttpClient CreateClient(TimeSpan timeout) => new() { BaseAddress = Address, Timeout = timeout };

    /// <summary>The last part of the output, for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process.Tail(chars);

    /// <summary>Kills the process if it still runs and writes the tail of its output to the test's output.</summary>
    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"--- {Name} (pid {_process.Pid}) output, last part ---{Environment.NewLine}{Tail()}");
    }

    private async Task WaitUntilHealthyAsync()
    {
        using var probe = CreateClient(TimeSpan.FromSeconds(2));
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it was healthy.{Environment.NewLine}{Tail()}");
            }

            try
            {
                using var response = await probe.GetAsync("/health", TestContext.Current.CancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }

            if (stopwatch.Elapsed > StartTimeout)
            {
                throw new TimeoutException($"{Name} did not answer /health with 200 within {StartTimeout}.{Environment.NewLine}{Tail()}");
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
