using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The connections a service's Kestrel holds at once when <c>Kestrel:Limits:MaxConcurrentConnections</c>
/// is not configured: below the process's open-file limit. Unbounded (Kestrel's default), a flood of
/// idle connections used up every descriptor, and Kestrel's accept loop then spun on the failing
/// accept, logging and allocating until the runtime aborted ("Out of memory.", an outside audit: 20,000
/// connections with no key killed the API in ~15 s). At the cap Kestrel closes a new connection at
/// once, so descriptors are never exhausted by connections alone.
/// </summary>
public static class ConnectionLimit
{
    /// <summary>
    /// The cap for an open-file limit of <paramref name="openFiles"/>: half of it. The other half is
    /// for what the process needs besides connections (Redis, its files, the runtime) and for the
    /// connections refused past the cap, each a descriptor until it is closed: under a flood on a busy
    /// machine those pile up (a quarter of the limit was too little in a CI run). Null (no cap) when
    /// the limit is unknown or unlimited.
    /// </summary>
    public static long? For(long? openFiles) => openFiles is > 1 and var limit ? limit / 2 : null;

    /// <summary>The configuration key of the cap (documented with Kestrel's own name).</summary>
    public const string Key = "Kestrel:Limits:MaxConcurrentConnections";

    /// <summary>
    /// The configured cap, when it reads as one. Kestrel is built with the app, before the settings
    /// are checked: a value that does not read is left to that check (<see cref="AddConnectionLimitCheck"/>),
    /// which names it, instead of thrown from Kestrel's construction with a stack trace.
    /// </summary>
    public static long? Configured(IConfiguration configuration) => Parse(configuration[Key]);

    /// <summary>Checks <see cref="Key"/> with the other settings at start: unset, or a whole number from 1.</summary>
    public static IServiceCollection AddConnectionLimitCheck(this IServiceCollection services)
    {
        services.AddSettingCheck(Key, static value => string.IsNullOrEmpty(value) || Parse(value) is not null
            ? []
            : [$"{Key} must be a whole number of connections from 1 (or unset for half the open-file limit)"]);
        return services;
    }

    /// <summary>The process's soft open-file limit (Linux, from <c>/proc/self/limits</c>); null elsewhere or when unlimited.</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            // "Max open files            20000                20000                files"
            var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
            var soft = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            return long.TryParse(soft, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) ? limit : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A whole number from 1; null for anything else.</summary>
    private static long? Parse(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit >= 1 ? limit : null;
}
