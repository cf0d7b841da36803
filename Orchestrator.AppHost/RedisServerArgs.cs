using System.Text.RegularExpressions;

namespace Orchestrator.AppHost;

/// <summary>
/// The <c>redis-server</c> settings every Redis the AppHost starts gets, local process or container:
/// durability from an append-only file alone, and bounded memory that is never freed by evicting keys.
/// </summary>
internal static partial class RedisServerArgs
{
    /// <summary>The default of <c>Redis:MaxMemory</c>.</summary>
    public const string DefaultMaxMemory = "1gb";

    /// <summary>
    /// <c>--appendonly yes --appendfsync everysec</c> (at most about a second of acknowledged writes
    /// lost if the machine dies), no RDB snapshots, <c>--maxmemory</c> and
    /// <c>--maxmemory-policy noeviction</c>: at the limit Redis refuses writes (the API answers
    /// 503 storage-full) instead of evicting keys, which could drop the jobs stream itself.
    /// </summary>
    /// <param name="maxMemory">A Redis memory size (<c>1gb</c>, <c>512mb</c>, bytes).</param>
    /// <param name="emptyArgument">
    /// How to pass an empty value: <c>""</c> to a process, <c>''</c> where the arguments are joined
    /// into one shell command line (Aspire's Redis container runs <c>/bin/sh -c "…"</c>, so an empty
    /// string would vanish and <c>--save</c> would take the next option as its value).
    /// </param>
    public static IEnumerable<string> Durability(string maxMemory, string emptyArgument)
    {
        yield return "--appendonly";
        yield return "yes";
        yield return "--appendfsync";
        yield return "everysec";
        yield return "--save";
        yield return emptyArgument;
        yield return "--maxmemory";
        yield return maxMemory;
        yield return "--maxmemory-policy";
        yield return "noeviction";
    }

    /// <summary>
    /// <c>Redis:MaxMemory</c>, checked: a positive size with an optional unit (<c>b</c>, <c>k</c>,
    /// <c>kb</c>, <c>m</c>, <c>mb</c>, <c>g</c>, <c>gb</c>), <see cref="DefaultMaxMemory"/> when unset.
    /// </summary>
    /// <exception cref="DistributedApplicationException">The value is not such a size.</exception>
    public static string MaxMemory(string? configured)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return DefaultMaxMemory;
        }

        var value = configured.Trim();
        var match = MemorySize().Match(value);
        if (!match.Success || ulong.TryParse(match.Groups["number"].Value, out var number) is false || number == 0)
        {
            throw new DistributedApplicationException(
                $"Redis:MaxMemory '{configured}' is not a memory size Redis accepts; use a positive size such as 1gb, 512mb or 268435456 (bytes).");
        }

        return value.ToLowerInvariant();
    }

    [GeneratedRegex("^(?<number>[0-9]{1,19})(b|k|kb|m|mb|g|gb)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MemorySize();
}
