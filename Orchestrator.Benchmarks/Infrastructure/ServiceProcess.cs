using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// Starts a real service as deployed: <c>dotnet Orchestrator.Worker.dll</c> (or the API) from the
/// Release build, in the Production environment, configured through environment variables.
/// </summary>
internal static class ServiceProcess
{
    public static ChildProcess Start(string assemblyPath, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException($"{assemblyPath} is missing; build the solution in this configuration first.", assemblyPath);
        }

        // Profiling: ORCHESTRATOR_BENCH_TRACE_DIR=/tmp/traces runs each service under
        // `dotnet-trace collect --profile dotnet-sampled-thread-time` (CPU and RSS figures then describe dotnet-trace, not the service).
        var traceDirectory = Environment.GetEnvironmentVariable("ORCHESTRATOR_BENCH_TRACE_DIR");
        List<string> commandLine = traceDirectory is null
            ? []
            : ["collect", "--profile", "dotnet-sampled-thread-time", "-o",
                Path.Combine(traceDirectory, $"{Path.GetFileNameWithoutExtension(assemblyPath)}-{DateTime.UtcNow:HHmmssfff}.nettrace"), "--", "dotnet"];
        commandLine.Add(assemblyPath);
        commandLine.AddRange(arguments);

        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (name, value) in environment)
        {
            settings[name] = value;
        }

        return ChildProcess.Start(new ChildProcessOptions
        {
            Name = Path.GetFileNameWithoutExtension(assemblyPath),
            FileName = traceDirectory is null ? "dotnet" : "dotnet-trace",
            Arguments = commandLine,
            Environment = settings,
            WorkingDirectory = Path.GetDirectoryName(assemblyPath),
            // The output is drained (a full pipe would slow the service) and its tail kept for an error report.
            MaxBufferedChars = 1_000_000,
        });
    }
}
