namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>What the figures were measured on: ratios compare across machines, absolute rates do not.</summary>
internal static class MachineInfo
{
    public static string Describe()
    {
        var cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }

        return $"{Environment.ProcessorCount} CPU(s), {cpu}, .NET {Environment.Version}, load average {LoadAverage()}";
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}
