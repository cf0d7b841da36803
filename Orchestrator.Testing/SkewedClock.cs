namespace Orchestrator.Testing;

/// <summary>
/// A child process whose wall clock is off, as a host's is without NTP or after a step: Debian's
/// libfaketime preloaded, its monotonic clock left alone (a real step never moves it).
/// </summary>
public static class SkewedClock
{
    private const string Library = "libfaketimeMT.so.1";

    /// <summary>
    /// The environment variables that start a process with its wall clock <paramref name="offset"/>
    /// from the host's (libfaketime's form: "-600s", "+30s"). Fails when libfaketime is missing
    /// (Debian's <c>faketime</c> package; CI installs it).
    /// </summary>
    public static IReadOnlyDictionary<string, string> Environment(string offset) => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["LD_PRELOAD"] = FindLibrary(),
        ["FAKETIME"] = offset,
        ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
    };

    /// <summary>
    /// The environment variables that start a process whose wall clock <see cref="Step"/> can set
    /// while it runs: its offset is read from <paramref name="offsetFile"/> (written here, "+0s"),
    /// again each second.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Steppable(string offsetFile)
    {
        Step(offsetFile, "+0s");
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["LD_PRELOAD"] = FindLibrary(),
            ["FAKETIME_TIMESTAMP_FILE"] = offsetFile,
            ["FAKETIME_CACHE_DURATION"] = "1",
            ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
        };
    }

    /// <summary>Sets the wall clock of a process started <see cref="Steppable"/> <paramref name="offset"/> off, within a second.</summary>
    public static void Step(string offsetFile, string offset) => File.WriteAllText(offsetFile, offset + "\n");

    private static string FindLibrary() =>
        (Directory.Exists("/usr/lib")
            ? Directory.EnumerateDirectories("/usr/lib", "*-linux-*")
                .Select(d => Path.Combine(d, "faketime", Library))
                .FirstOrDefault(File.Exists)
            : null)
        ?? throw new InvalidOperationException($"{Library} was not found under /usr/lib/*/faketime: install Debian's faketime package.");
}
