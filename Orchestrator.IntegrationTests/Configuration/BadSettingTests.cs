using System.Net;
using System.Net.Sockets;

namespace Orchestrator.IntegrationTests.Configuration;

/// <summary>
/// A bad setting ends a real service process with one line naming the configuration key, exit code 1
/// and no stack trace; not an unhandled exception naming a C# member. Its own collection, beside the
/// worker processes' (not in it): each process ends at start, and nothing here measures a time.
/// </summary>
public sealed class BadSettingTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("Orchestrator.Worker", "Simulator:FailureRate", "2", "Simulator:FailureRate must be between 0 and 1")]
    [InlineData("Orchestrator.Worker", "Worker:Concurrency", "0", "Worker:Concurrency must be between 1 and 10000")]
    [InlineData("Orchestrator.Worker", "Worker:HealthPort", "http", "'http' at 'Worker:HealthPort'")]
    // Also taken as an address, it was a second line blaming ASPNETCORE_URLS (an outside audit).
    [InlineData("Orchestrator.Worker", "Worker:HealthPort", "-1", "Worker:HealthPort must be between 0 and 65535")]
    [InlineData("Orchestrator.Worker", "Worker:HealthPort", "65536", "Worker:HealthPort must be between 0 and 65535")]
    // Checked against a wrong lease timeout, the reclaim interval was named too (audit).
    [InlineData("Orchestrator.Worker", "Worker:LeaseTimeout", "00:00:00", "Worker:LeaseTimeout must be from 00:00:01 to 01:00:00")]
    [InlineData("Orchestrator.Api", "Api:MaxPromptLength", "0", "Api:MaxPromptLength must be between 1 and 10000000")]
    [InlineData("Orchestrator.Worker", "Tenants:acme:MaxConcurrency", "0", "Tenants:acme:MaxConcurrency must be from 1 to 10000000")]
    [InlineData("Orchestrator.Api", "Tenants:acme:MaxQueuedJobs", "0", "Tenants:acme:MaxQueuedJobs must be from 1 to 10000000")]
    [InlineData("Orchestrator.Api", "Tenants:acme:RequestsPerMinute", "-5", "Tenants:acme:RequestsPerMinute must be from 1 to 10000000")]
    // Read by two validators (the API keys' and the quotas'): still one line.
    [InlineData("Orchestrator.Api", "Tenants:Acme:ApiKeys:0", "a-perfectly-good-key-0123456789", "Tenant name 'Acme' (section Tenants:Acme) is not valid")]
    [InlineData("Orchestrator.Api", "Api:JobRetention", "00:00:00", "Api:JobRetention must be at least 00:00:01")]
    // A replay of a key answered 202 for a job already expired, which GET answered 404 (audit).
    [InlineData("Orchestrator.Api", "Api:JobRetention", "00:10:00", "Api:JobRetention must be at least Api:IdempotencyKeyTtl (1.00:00:00)")]
    [InlineData("Orchestrator.Api", "Jobs:Partitions", "0", "Jobs:Partitions must be between 1 and 1024")]
    [InlineData("Orchestrator.Worker", "Jobs:Partitions", "1025", "Jobs:Partitions must be between 1 and 1024")]
    [InlineData("Orchestrator.LlmSimulator", "Simulator:FailureRate", "2", "Simulator:FailureRate must be between 0 and 1")]
    [InlineData("Orchestrator.LlmSimulator", "Simulator:AnnouncementGrace", "00:02:00", "Simulator:AnnouncementGrace must be from 00:00:00 to 00:01:00")]
    // The host ignored a value it could not read and kept its 30 s without a word (audit).
    [InlineData("Orchestrator.Api", "shutdownTimeoutSeconds", "abc", "shutdownTimeoutSeconds must be a whole number of seconds from 0 to 3600")]
    [InlineData("Orchestrator.Worker", "shutdownTimeoutSeconds", "-5", "shutdownTimeoutSeconds must be a whole number of seconds from 0 to 3600")]
    [InlineData("Orchestrator.Worker", "shutdownTimeoutSeconds", "3601", "shutdownTimeoutSeconds must be a whole number of seconds from 0 to 3600")]
    // The jobs page started and every page was blank (an outside audit).
    [InlineData("Orchestrator.Web", "Web:ApiUrl", "localhost:3000", "Web:ApiUrl: must be an absolute http or https address")]
    [InlineData("Orchestrator.Web", "Web:DashboardUrl", "relative/path", "Web:DashboardUrl: must be an absolute http or https address")]
    // An entry of a map or list with a value the binder cannot read was dropped without a word: the
    // provider gone (the simulator then answered its model), the tenant's quotas all off (an outside audit).
    [InlineData("Orchestrator.Api", "Llm:Providers:p:RequestsPerMinute", "abc", "'abc' at 'Llm:Providers:p:RequestsPerMinute'")]
    [InlineData("Orchestrator.Worker", "Tenants:acme:MaxQueuedJobs", "abc", "'abc' at 'Tenants:acme:MaxQueuedJobs'")]
    // A list set as one value was ignored (the admin key then answered 401).
    [InlineData("Orchestrator.Api", "Auth:AdminKeys", "an-admin-key-0123456789", "Auth:AdminKeys is a list or a map: set its entries")]
    [InlineData("Orchestrator.Worker", "Webhooks:TenantSecrets", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=", "Webhooks:TenantSecrets is a list or a map: set its entries")]
    // A provider or tenant set as one value bound to nothing: the provider gone, the tenant's quotas off (an outside audit).
    [InlineData("Orchestrator.Api", "Llm:Providers:p", "5", "Llm:Providers:p is a map: set its members")]
    [InlineData("Orchestrator.Worker", "Tenants:acme", "5", "Tenants:acme is a map: set its members")]
    // Read by the API's model catalogue, unchecked there: GET /models and POST /jobs answered 500.
    [InlineData("Orchestrator.Api", "Simulator:FailureRate", "abc", "'abc' at 'Simulator:FailureRate'")]
    [InlineData("Orchestrator.Worker", "Llm:CircuitFailureRatio", "NaN", "Llm:CircuitFailureRatio must be above 0 and at most 1")]
    // Kestrel read the port as none and listened on port 80 of every interface (an outside audit).
    [InlineData("Orchestrator.Api", "ASPNETCORE_URLS", "http://127.0.0.1:5OOO", "urls (ASPNETCORE_URLS): 'http://127.0.0.1:5OOO' is not an address to listen on")]
    [InlineData("Orchestrator.LlmSimulator", "ASPNETCORE_URLS", "http://127.0.0.1:0;http://localhost:", "urls (ASPNETCORE_URLS): 'http://localhost:' is not an address to listen on")]
    // Documented, and read by no service.
    [InlineData("Orchestrator.LlmSimulator", "Kestrel:Limits:MaxConcurrentConnections", "abc", "Kestrel:Limits:MaxConcurrentConnections must be a whole number of connections from 1")]
    public Task Start_WithBadSetting_PrintsOneLineNamingTheKeyAndExits1(string service, string key, string value, string expected) =>
        AssertStopsWithOneLineAsync(service, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            [key] = value,
        }, expected);

    /// <summary>A value that does not read is named with the other bad settings: it hid them (one line, not all; an outside audit).</summary>
    [Fact]
    public async Task Start_WithAnUnreadableAndAnOutOfRangeSetting_NamesBoth()
    {
        var (exitCode, output) = await RunUntilExitAsync("Orchestrator.Worker", new()
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Worker:Concurrency"] = "abc",
            ["Simulator:FailureRate"] = "2",
        });

        Assert.Equal(1, exitCode);
        Assert.Equal(2, output.Count);
        Assert.Contains(output, line => line.Contains("'abc' at 'Worker:Concurrency'", StringComparison.Ordinal));
        Assert.Contains(output, line => line.Contains("Simulator:FailureRate must be between 0 and 1", StringComparison.Ordinal));
    }

    /// <summary>
    /// A key that nearly spells a setting is warned of, naming the setting meant (it was ignored without a
    /// word); here beside a bad setting, so the service ends at start and the test need not stop it.
    /// </summary>
    [Theory]
    [InlineData("Orchestrator.Worker", "Worker:Concurency", "Worker:Concurrency")]
    [InlineData("Orchestrator.Api", "Tenants:acme:ApiKey:0", "Tenants:acme:ApiKeys")]
    public async Task Start_WithAMisspelledKey_WarnsNamingTheSettingMeant(string service, string misspelled, string meant)
    {
        var (exitCode, output) = await RunUntilExitAsync(service, new()
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            [misspelled] = "a-perfectly-good-key-0123456789",
            ["Jobs:Partitions"] = "0",
        });

        Assert.Equal(1, exitCode);
        var key = misspelled.EndsWith(":0", StringComparison.Ordinal) ? misspelled[..^2] : misspelled;
        Assert.Contains(output, line => line.Contains($"Configuration key {key} is not a setting, and is ignored: did you mean {meant}?", StringComparison.Ordinal));
        Assert.Contains(output, line => line.Contains("Jobs:Partitions must be between 1 and 1024", StringComparison.Ordinal));
    }

    /// <summary>A provider's settings that pass one by one, and fail together (an outside audit: accepted before).</summary>
    [Theory]
    // Every job failed at its first call ("The 'ftp' scheme is not supported").
    [InlineData("Endpoint=ftp://127.0.0.1/v1", "Llm:Providers:p:Endpoint must be an absolute http or https URL")]
    // The second model was dropped from /models without a word.
    [InlineData("Models:1:Name=m1;Models:1:InputCostPerMillion=0,15", "'0,15' at 'Llm:Providers:p:Models:1:InputCostPerMillion'")]
    public Task Start_WithBadProviderSetting_PrintsOneLineNamingTheKeyAndExits1(string settings, string expected)
    {
        var configured = new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Llm:Providers:p:Kind"] = "openai",
            ["Llm:Providers:p:Endpoint"] = "http://127.0.0.1:9/v1",
            ["Llm:Providers:p:Models:0:Name"] = "m0",
        };
        foreach (var setting in settings.Split(';'))
        {
            var keyAndValue = setting.Split('=', 2);
            configured[$"Llm:Providers:p:{keyAndValue[0]}"] = keyAndValue[1];
        }

        return AssertStopsWithOneLineAsync("Orchestrator.Worker", configured, expected);
    }

    /// <summary>
    /// The Redis connection string is checked with the other settings, before anything connects: it was
    /// an unhandled exception from the Redis client (exit code 134, 12 to 23 lines of stack; audit).
    /// </summary>
    [Theory]
    [InlineData("Orchestrator.Api", null, "ConnectionStrings:redis is not set")]
    [InlineData("Orchestrator.Api", "", "ConnectionStrings:redis is empty")]
    [InlineData("Orchestrator.Api", "127.0.0.1:notaport", "ConnectionStrings:redis names no Redis endpoint")]
    [InlineData("Orchestrator.Api", "127.0.0.1:6379,nosuchoption=1", "ConnectionStrings:redis is not a Redis connection string")]
    [InlineData("Orchestrator.Api", "redis://127.0.0.1:6379", "ConnectionStrings:redis is a URL")]
    [InlineData("Orchestrator.Worker", null, "ConnectionStrings:redis is not set")]
    [InlineData("Orchestrator.Worker", "", "ConnectionStrings:redis is empty")]
    [InlineData("Orchestrator.Worker", "127.0.0.1:notaport", "ConnectionStrings:redis names no Redis endpoint")]
    [InlineData("Orchestrator.Worker", "redis://127.0.0.1:6379", "ConnectionStrings:redis is a URL")]
    public Task Start_WithBadRedisConnectionString_PrintsOneLineNamingTheKeyAndExits1(string service, string? connectionString, string expected)
    {
        var settings = new Dictionary<string, string> { ["ASPNETCORE_URLS"] = "http://127.0.0.1:0" };
        if (connectionString is not null)
        {
            settings["ConnectionStrings:redis"] = connectionString;
        }

        return AssertStopsWithOneLineAsync(service, settings, expected);
    }

    /// <summary>
    /// An address the service cannot bind (another process listens on the port; an address not this
    /// machine's) ends it with exit code 1 and Kestrel's line last: it was an unhandled exception, exit
    /// code 134 (an outside audit). The framework's own "Hosting failed to start" entry is logged before it.
    /// </summary>
    [Theory]
    [InlineData("Orchestrator.Api")]
    [InlineData("Orchestrator.Worker")]
    [InlineData("Orchestrator.LlmSimulator")]
    [InlineData("Orchestrator.Web")]
    public async Task Start_OnAPortAnotherProcessListensOn_Exits1SayingSoLast(string service)
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var address = $"http://127.0.0.1:{((IPEndPoint)holder.LocalEndpoint).Port}";

        var (exitCode, output) = await RunUntilExitAsync(service, new() { ["ConnectionStrings:redis"] = "127.0.0.1:1", ["ASPNETCORE_URLS"] = address });

        Assert.Equal(1, exitCode);
        Assert.NotEmpty(output);
        Assert.Equal($"Failed to bind to address {address}: address already in use.", output[^1]);
        Assert.DoesNotContain(output, line => line.StartsWith("Unhandled exception", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_OnAnAddressNotThisMachines_Exits1SayingSoLast()
    {
        // TEST-NET-1 (RFC 5737): documentation only, no machine's own.
        const string Address = "http://192.0.2.1:8080";

        var (exitCode, output) = await RunUntilExitAsync("Orchestrator.LlmSimulator", new() { ["ASPNETCORE_URLS"] = Address });

        Assert.Equal(1, exitCode);
        Assert.NotEmpty(output);
        Assert.Equal($"Failed to bind to address {Address}: cannot assign requested address (not an address of this machine).", output[^1]);
    }

    private static async Task AssertStopsWithOneLineAsync(string service, Dictionary<string, string> settings, string expected)
    {
        var (exitCode, output) = await RunUntilExitAsync(service, settings);

        Assert.Equal(1, exitCode);
        var line = Assert.Single(output);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", line, StringComparison.Ordinal);
    }

    /// <summary>Starts <paramref name="service"/> and waits for its exit: its code and the lines it wrote.</summary>
    private static async Task<(int ExitCode, List<string> Output)> RunUntilExitAsync(string service, Dictionary<string, string> settings)
    {
        var assembly = WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", service, StringComparison.Ordinal);
        await using var process = ServiceProcess.Start(service, assembly, settings);

        Assert.True(await process.WaitForExitAsync(ExitTimeout, TestContext.Current.CancellationToken), $"{service} did not exit: {process.Tail()}");
        // ChildProcess's own "--- name started" marker aside, what the service wrote.
        var output = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => !line.StartsWith("--- ", StringComparison.Ordinal)).ToList();
        return (process.ExitCode, output);
    }
}
