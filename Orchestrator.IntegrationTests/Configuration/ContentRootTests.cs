using System.Globalization;

namespace Orchestrator.IntegrationTests.Configuration;

/// <summary>
/// Regression: the API, and later the LLM simulator, read their settings from the working directory
/// (the default content root), so <c>dotnet path/to/service.dll</c> started from elsewhere ran
/// without appsettings.json and logged ASP.NET Core's Information lines for each request (the
/// simulator: 40 MB in a 36-minute soak). Their content root is now the directory of their binary.
/// </summary>
public sealed class ContentRootTests
{
    [Theory]
    [InlineData("api")]
    [InlineData("llm-simulator")]
    public async Task StartedFromAnotherDirectory_ReadsTheSettingsNextToItsBinary(string service)
    {
        await using var redis = await RedisServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var elsewhere = Directory.CreateTempSubdirectory("orchestrator-cwd-");
        try
        {
            var address = new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}");
            var assembly = service == "api" ? ApiProcess.AssemblyPath : LlmSimulatorProcess.AssemblyPath;
            // No log level given: the one the service runs with comes from its appsettings.json, or from nowhere.
            var options = ServiceProcess.Options(service, assembly, new Dictionary<string, string>
            {
                ["ConnectionStrings:redis"] = redis.ConnectionString,
                ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            }) with { WorkingDirectory = elsewhere.FullName };
            await using var process = ChildProcess.Start(options);
            await ServiceHealth.WaitAsync(process, address, ApiProcess.StartTimeout);

            var binaryDirectory = Path.GetDirectoryName(assembly)!;
            await AsyncWait.WaitUntilAsync(() => process.Output.Contains("Content root path: ", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
                "the service logs its content root");
            Assert.Contains($"Content root path: {binaryDirectory}", process.Output, StringComparison.Ordinal);
            // appsettings.json keeps ASP.NET Core's per-request lines (Information) out; /health was
            // answered before the content root line was read, so such a line may already be there.
            Assert.DoesNotContain("Request starting", process.Output, StringComparison.Ordinal);
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }
}
