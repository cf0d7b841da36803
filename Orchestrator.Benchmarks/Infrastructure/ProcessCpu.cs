using System.Globalization;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// CPU time (user + system) a process has used, from /proc/&lt;pid&gt;/stat: read before and after a
/// run, it shows which side (worker or Redis) a job's cost lands on, at no cost during the run.
/// </summary>
internal static class ProcessCpu
{
    public static TimeSpan? Of(int processId)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{processId.ToString(CultureInfo.InvariantCulture)}/stat");
            // Fields after the command name (which may contain spaces) start at the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux.
        }
        catch (IOException)
        {
            return null;
        }
    }
}
