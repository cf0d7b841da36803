using System.Globalization;

namespace Orchestrator.Jobs;

/// <summary>
/// The reclaim cursor over several partitions: <c>&lt;first&gt;/&lt;partition&gt;/&lt;entry id&gt;</c>,
/// the partition the pass started at, the one it scans and the XAUTOCLAIM cursor there. Opaque to
/// the worker, which only compares it with <see cref="ReclaimPage.Start"/>.
/// </summary>
internal static class ReclaimCursor
{
    public static string Format(int first, int partition, string entry) =>
        string.Create(CultureInfo.InvariantCulture, $"{first}/{partition}/{entry}");

    /// <summary>The parts of <paramref name="cursor"/>, or null for the start of a pass (or a cursor of another layout).</summary>
    public static (int First, int Partition, string Entry)? Parse(string cursor, int partitions)
    {
        var parts = cursor.Split('/');
        return parts.Length == 3
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first) && first < partitions
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var partition) && partition < partitions
            ? (first, partition, parts[2])
            : null;
    }
}
