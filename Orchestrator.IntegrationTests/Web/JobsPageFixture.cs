using Microsoft.Playwright;

namespace Orchestrator.IntegrationTests.Web;

/// <summary>
/// Everything the jobs page runs on, for real: a Redis, an API process (keys required), a worker
/// process, the <c>Orchestrator.Web</c> process calling the API with an admin key, and Debian's
/// chromium driven by Playwright (headless). Screenshots go to <see cref="ScreenshotFolder"/>.
/// </summary>
public sealed class JobsPageFixture : IAsyncLifetime
{
    /// <summary>Where the system's browser is (Debian's <c>chromium</c> package; <c>.ci/run</c> installs it).</summary>
    public const string ChromiumPath = "/usr/bin/chromium";

    private WorkerHarness? _harness;
    private ChildProcess? _web;
    private IPlaywright? _playwright;

    /// <summary>The API.</summary>
    public ApiProcess Api { get; private set; } = null!;

    /// <summary>The jobs page's address.</summary>
    public Uri WebAddress { get; } = new($"http://127.0.0.1:{LoopbackPort.Next()}/");

    /// <summary>The browser.</summary>
    public IBrowser Browser { get; private set; } = null!;

    /// <summary>Where screenshots are written: <c>docs/images</c> when ORCHESTRATOR_SCREENSHOTS=1, else the test's temp folder.</summary>
    public string ScreenshotFolder { get; } = Environment.GetEnvironmentVariable("ORCHESTRATOR_SCREENSHOTS") == "1"
        ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(ServiceAssembly.Find("Orchestrator.Web"))!, "..", "..", "..", "..", "docs", "images"))
        : Directory.CreateTempSubdirectory("orchestrator-web-").FullName;

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        _harness = await WorkerHarness.StartAsync();
        Api = await ApiProcess.StartAsync(_harness.Redis.ConnectionString, TenantApiFactory.AuthSettings);
        await _harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.200",
            ["Retry:MaxAttempts"] = "2",
            ["Retry:BaseDelay"] = "00:00:00.100",
        }, "worker");

        var assembly = ServiceAssembly.Find("Orchestrator.Web");
        _web = ServiceProcess.Start("web", assembly, new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = WebAddress.ToString().TrimEnd('/'),
            // Development: static assets are served from the project's wwwroot (no publish step).
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["Web:ApiUrl"] = Api.Address.ToString(),
            ["Web:ApiKey"] = TenantApiFactory.AdminKey,
            ["Web:DashboardUrl"] = "http://127.0.0.1:18888",
            ["Web:RefreshInterval"] = "00:00:00.250",
            // A paused API is said to be so after this, not after the default 10 s.
            ["Web:ApiTimeout"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        await ServiceHealth.WaitAsync(_web, WebAddress, ApiProcess.StartTimeout);

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Root in a container has no user namespace for chromium's sandbox.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A client of the API with tenant A's key (the jobs the tests submit belong to tenant A).</summary>
    public HttpClient TenantClient() => Api.CreateClient(TenantApiFactory.KeyA);

    /// <summary>The web process's output, for failure messages.</summary>
    public string WebOutput => _web?.Tail() ?? "";

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_web is not null)
        {
            await _web.DisposeAsync();
        }

        if (Api is not null)
        {
            await Api.DisposeAsync();
        }

        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
    }
}
