using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// Starts a real service as deployed (<see cref="ServiceProcess"/>): <c>dotnet Orchestrator.Worker.dll</c>
/// (or the API) from the Release build, in the Production environment, optionally under a profiler.
/// </summary>
internal static class BenchmarkProcess
{
    public static ChildProcess Start(string assemblyPath, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        if (!File.Exists(assemblyPath))
        {
            throw new FileNotFoundException($"{assemblyPath} is missing; build the solution in this configuration first.", assemblyPath);
        }

        var settings = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        foreach (var (name, value) in environment)
        {
            settings[name] = value;
        }

        // The output is drained (a full pipe would slow the service) and its tail kept for an error report.
        var options = ServiceProcess.Options(Path.GetFileNameWithoutExtension(assemblyPath), assemblyPath, settings) with
        {
            Arguments = [assemblyPath, .. arguments],
            MaxBufferedChars = 1_000_000,
        };

        // Profiling: ORCHESTRATOR_BENCH_TRACE_DIR=/tmp/traces runs each service under
        // `dotnet-trace collect --profile dotnet-sampled-thread-time` (CPU and RSS figures then describe dotnet-trace, not the service).
        if (Environment.GetEnvironmentVariable("ORCHESTRATOR_BENCH_TRACE_DIR") is { } traceDirectory)
        {
            var trace = Path.Combine(traceDirectory, $"{Path.GetFileNameWithoutExtension(assemblyPath)}-{DateTime.UtcNow:HHmmssfff}.nettrace");
            options = options with
            {
                FileName = "dotnet-trace",
                Arguments = ["collect", "--profile", "dotnet-sampled-thread-time", "-o", trace, "--", ChildProcess.DotnetHost, .. options.Arguments],
            };
        }

        return ChildProcess.Start(options);
    }
}
