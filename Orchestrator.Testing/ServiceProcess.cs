namespace Orchestrator.Testing;

/// <summary>
/// How tests, the chaos run and the benchmarks start an Orchestrator service as it is deployed
/// (<c>dotnet Orchestrator.X.dll</c> from the caller's build): configured by what the caller passes
/// and nothing else. The caller's own environment (an OTLP endpoint, a developer's connection
/// string or worker settings) never reaches the service.
/// </summary>
public static class ServiceProcess
{
    /// <summary>The configuration sections the services read; inherited variables in them are dropped.</summary>
    private static readonly string[] Sections =
        ["ConnectionStrings", "Api", "Auth", "Tenants", "Redis", "Retry", "Worker", "Simulator", "Llm", "Scheduling", "Webhooks", "Jobs", "Logging"];

    /// <summary>
    /// The options that start <paramref name="assemblyPath"/> with <paramref name="settings"/>
    /// (configuration keys as <c>Section:Key</c>, or environment names as <c>Section__Key</c>), on
    /// top of a single-line console log with millisecond timestamps. Adjust with <c>with</c>.
    /// </summary>
    public static ChildProcessOptions Options(string name, string assemblyPath, IReadOnlyDictionary<string, string> settings)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
        };
        foreach (var (key, value) in settings)
        {
            environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        return new ChildProcessOptions
        {
            Name = name,
            FileName = ChildProcess.DotnetHost,
            Arguments = [assemblyPath],
            Environment = environment,
            DropInherited = IsServiceSetting,
            WorkingDirectory = Path.GetDirectoryName(assemblyPath),
        };
    }

    /// <summary>Starts <paramref name="assemblyPath"/> with <paramref name="settings"/> (see <see cref="Options"/>).</summary>
    public static ChildProcess Start(string name, string assemblyPath, IReadOnlyDictionary<string, string> settings) =>
        ChildProcess.Start(Options(name, assemblyPath, settings));

    /// <summary>
    /// <paramref name="options"/> run under <c>nice -n -10</c>: every thread of the service is
    /// scheduled before the machine's ordinary processes. For a test that asserts a service's own
    /// latency while the rest of the suite loads the shared cores: without it, a 2-core machine at
    /// load 10 or more leaves any process unscheduled for 100 ms and more at times, which measures
    /// the load, not the service. Where raising priority is not permitted (not root, no
    /// CAP_SYS_NICE), <c>nice</c> says so on the output and runs the service at normal priority.
    /// </summary>
    public static ChildProcessOptions Favoured(ChildProcessOptions options) => options with
    {
        FileName = "nice",
        Arguments = ["-n", "-10", options.FileName, .. options.Arguments],
    };

    /// <summary>
    /// Raises a running process's main thread to the priority <see cref="Favoured"/> gives (Linux
    /// priorities are per thread: enough for a single-threaded server such as redis-server). Where
    /// that is not permitted, the process keeps its priority.
    /// </summary>
    public static void Favour(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            process.PriorityClass = System.Diagnostics.ProcessPriorityClass.High;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or ArgumentException)
        {
            // Not permitted (no CAP_SYS_NICE) or already gone: it runs at its own priority.
        }
    }

    /// <summary>Whether an inherited environment variable would configure a service (and so is dropped).</summary>
    public static bool IsServiceSetting(string variable) =>
        variable.StartsWith("OTEL_", StringComparison.Ordinal)
        || variable.StartsWith("ASPNETCORE_", StringComparison.Ordinal)
        || variable.StartsWith("DOTNET_ENVIRONMENT", StringComparison.Ordinal)
        || Sections.Any(section => variable.Length > section.Length + 2
            && variable.StartsWith(section, StringComparison.OrdinalIgnoreCase)
            && variable.AsSpan(section.Length).StartsWith("__"));
}
