using System.Globalization;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// A real <c>Orchestrator.Api</c> process (<c>dotnet Orchestrator.Api.dll</c> from the same build
/// configuration as the tests) on a free loopback port, pointed at a test's Redis. Disposing kills it.
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

    /// <summary>Where the API listens.</summary>
    public Uri Address { get; }

    /// <summary>
    /// Starts the API against <paramref name="redisConnectionString"/> and waits until <c>/health</c>
    /// answers 200. <paramref name="settings"/> are configuration keys as <c>Section:Key</c>.
    /// </summary>
    public static async Task<ApiProcess> StartAsync(string redisConnectionString, IReadOnlyDictionary<string, string> settings, string name = "api")
    {
        var address = new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ConnectionStrings__redis"] = redisConnectionString,
            ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var process = ChildProcess.Start(new ChildProcessOptions
        {
            Name = name,
            FileName = ChildProcess.DotnetHost,
            Arguments = [AssemblyPath],
            Environment = environment,
            // Nothing from the test host's environment may redirect or reconfigure the API.
            DropInherited = static key => key.StartsWith("OTEL_", StringComparison.Ordinal)
                || key.StartsWith("ConnectionStrings__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Api__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Auth__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("Tenants__", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("ASPNETCORE_", StringComparison.Ordinal),
            WorkingDirectory = Path.GetDirectoryName(AssemblyPath),
        });
        var api = new ApiProcess(process, address);
        try
        {
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
            await AsyncWait.WaitUntilAsync(async () =>
            {
                if (process.HasExited)
                {
                    Assert.Fail($"{name} exited with code {process.ExitCode} before it answered /health:{Environment.NewLine}{process.Output}");
                }

                try
                {
                    using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, StartTimeout, $"{name} answers /health", TimeSpan.FromMilliseconds(200));
            return api;
        }
        catch
        {
            await api.DisposeAsync();
            throw;
        }
    }

    /// <summary>The built API of the tests' configuration and framework (the test project references it, so it is built).</summary>
    public static string AssemblyPath { get; } = FindAssembly();

    private static string FindAssembly()
    {
        var testBin = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Orchestrator.sln")))
        {
            root = root.Parent;
        }

        var path = root is null || testBin.Parent is null
            ? null
            : Path.Combine(root.FullName, "Orchestrator.Api", "bin", testBin.Parent.Name, testBin.Name, "Orchestrator.Api.dll");
        return path is not null && File.Exists(path)
            ? path
            : throw new InvalidOperationException($"The built API was not found for the tests in {testBin.FullName}.");
    }

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

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
