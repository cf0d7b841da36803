using System.Globalization;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Regression: the API read its settings from the working directory (the default content root), so
/// <c>dotnet path/to/Orchestrator.Api.dll</c> started from elsewhere ran without appsettings.json and
/// logged four Information lines per request. Its content root is now the directory of its binary.
/// </summary>
public sealed class ApiContentRootTests
{
    [Fact]
    public async Task StartedFromAnotherDirectory_ReadsTheSettingsNextToItsBinary()
    {
        await using var redis = await RedisServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var elsewhere = Directory.CreateTempSubdirectory("orchestrator-api-cwd-");
        try
        {
            var address = new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}");
            // No log level given: the one the API runs with comes from its appsettings.json, or from nowhere.
            var options = ServiceProcess.Options("api", ApiProcess.AssemblyPath, new Dictionary<string, string>
            {
                ["ConnectionStrings:redis"] = redis.ConnectionString,
                ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            }) with { WorkingDirectory = elsewhere.FullName };
            await using var api = ChildProcess.Start(options);
            await ServiceHealth.WaitAsync(api, address, ApiProcess.StartTimeout);

            var binaryDirectory = Path.GetDirectoryName(ApiProcess.AssemblyPath)!;
            await AsyncWait.WaitUntilAsync(() => api.Output.Contains("Content root path: ", StringComparison.Ordinal), TimeSpan.FromSeconds(30),
                "the API logs its content root");
            Assert.Contains($"Content root path: {binaryDirectory}", api.Output, StringComparison.Ordinal);
            // appsettings.json keeps ASP.NET Core's per-request lines (Information) out; /health was
            // answered before the content root line was read, so such a line may already be there.
            Assert.DoesNotContain("Request starting", api.Output, StringComparison.Ordinal);
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }
}
