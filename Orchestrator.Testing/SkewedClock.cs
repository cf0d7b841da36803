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
    public static IReadOnlyDictionary<string, string> Environment(string offset)
    {
        var library = Directory.Exists("/usr/lib")
            ? Directory.EnumerateDirectories("/usr/lib", "*-linux-*")
                .Select(d => Path.Combine(d, "faketime", Library))
                .FirstOrDefault(File.Exists)
            : null;
        return library is null
            ? throw new InvalidOperationException($"{Library} was not found under /usr/lib/*/faketime: install Debian's faketime package.")
            : new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["LD_PRELOAD"] = library,
                ["FAKETIME"] = offset,
                ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
            };
    }
}
