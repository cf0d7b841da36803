namespace Orchestrator.ContractTests;

/// <summary>A real redis-server and a real API process (<c>dotnet Orchestrator.Api.dll</c>) on free loopback ports.</summary>
public sealed class ApiProcessFixture : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private RedisServer? _redis;
    private ChildProcess? _api;

    /// <summary>The API key of the tenant the examples run as (<c>Tenants:readme:ApiKeys:0</c>).</summary>
    public string ApiKey { get; } = $"readme-{Guid.NewGuid():N}";

    /// <summary>The API's address.</summary>
    public Uri Address { get; } = new($"http://127.0.0.1:{LoopbackPort.Next()}/");

    public async ValueTask InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var assembly = ApiAssembly();
        _api = ServiceProcess.Start("api", assembly, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = _redis.ConnectionString,
            ["ASPNETCORE_URLS"] = Address.ToString().TrimEnd('/'),
            ["Logging:LogLevel:Default"] = "Warning",
            ["Tenants:readme:ApiKeys:0"] = ApiKey,
        });
        // Fails at once, with the API's output, should it exit before it answers.
        await ServiceHealth.WaitAsync(_api, Address, StartTimeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (_api is not null)
        {
            await _api.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    // The tests run from <repo>/Orchestrator.ContractTests/bin/<Configuration>/<tfm>/; the API is built
    // (a project reference) to <repo>/Orchestrator.Api/bin/<Configuration>/<tfm>/.
    private static string ApiAssembly()
    {
        var bin = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var path = Path.Combine(bin.Parent!.Parent!.Parent!.Parent!.FullName, "Orchestrator.Api", "bin", bin.Parent.Name, bin.Name, "Orchestrator.Api.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("The API is not built next to the tests.", path);
    }
}
