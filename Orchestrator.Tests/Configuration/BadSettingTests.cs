using System.Diagnostics;
using Orchestrator.Tests.Infrastructure;

namespace Orchestrator.Tests.Configuration;

/// <summary>
/// A bad setting ends a real service process with one line naming the configuration key, exit code 1
/// and no stack trace; not an unhandled exception naming a C# member.
/// </summary>
[Collection("worker-processes")]
public sealed class BadSettingTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("Orchestrator.Worker", "Simulator:FailureRate", "2", "Simulator:FailureRate must be between 0 and 1")]
    [InlineData("Orchestrator.Worker", "Worker:Concurrency", "0", "Worker:Concurrency must be between 1 and 10000")]
    [InlineData("Orchestrator.Worker", "Worker:HealthPort", "http", "'http' at 'Worker:HealthPort'")]
    [InlineData("Orchestrator.Api", "Api:MaxPromptLength", "0", "Api:MaxPromptLength must be between 1 and 10000000")]
    [InlineData("Orchestrator.Api", "Api:JobRetention", "00:00:00", "Api:JobRetention must be at least 00:00:01")]
    public async Task Start_WithBadSetting_PrintsOneLineNamingTheKeyAndExits1(string service, string key, string value, string expected)
    {
        var assembly = WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", service, StringComparison.Ordinal);
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
        };
        startInfo.ArgumentList.Add(assembly);
        startInfo.Environment["ConnectionStrings__redis"] = "127.0.0.1:1";
        startInfo.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        startInfo.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(ExitTimeout, TestContext.Current.CancellationToken);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var output = (await stdout + await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(1, process.ExitCode);
        var line = Assert.Single(output);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", line, StringComparison.Ordinal);
    }
}
