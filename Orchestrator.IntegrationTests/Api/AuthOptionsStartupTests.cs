namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>Auth</c> and <c>Tenants</c> are validated at start: a real API process refuses to start on one
/// key configured for two tenants (exit code 1), naming the tenants, never the key (the validator's
/// rules are unit-tested).
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class AuthOptionsStartupTests
{
    private const string Key = "a-perfectly-good-key-0123456789";
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Start_SameKeyForTwoTenants_Exits1NamingBothTenantsNotTheKey()
    {
        await using var process = ServiceProcess.Start("api", ApiProcess.AssemblyPath, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = "127.0.0.1:1",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Tenants:tenant-a:ApiKeys:0"] = Key,
            ["Tenants:tenant-b:ApiKeys:0"] = Key,
        });

        Assert.True(await process.WaitForExitAsync(ExitTimeout, TestContext.Current.CancellationToken), $"the API did not exit: {process.Tail()}");
        Assert.Equal(1, process.ExitCode);
        var output = process.Output;
        Assert.Contains("tenant-a", output, StringComparison.Ordinal);
        Assert.Contains("tenant-b", output, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, output, StringComparison.Ordinal);
    }
}
