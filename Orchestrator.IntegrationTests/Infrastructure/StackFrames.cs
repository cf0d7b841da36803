using System.Text.RegularExpressions;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>Finds stack traces in a service's log (the outage tests assert there are none).</summary>
internal static partial class StackFrames
{
    /// <summary>Each frame or trace marker in <paramref name="output"/>, in order.</summary>
    public static IReadOnlyList<string> In(string output) => [.. Frame().Matches(output).Select(m => m.Value)];

    /// <summary>
    /// Why <paramref name="output"/> has <paramref name="frames"/>: the start of each distinct line
    /// that carries one (in the single-line format the tests use, the log line and its trace).
    /// </summary>
    public static string Describe(string output, IReadOnlyList<string> frames) =>
        $"{frames.Count} stack frames logged while Redis was down, in these lines:\n" + string.Join('\n', output.Split('\n')
            .Where(line => Frame().IsMatch(line))
            .Select(line => line.Length > 200 ? line[..200] : line)
            // The time stamp ("07:34:28.847 ") differs from line to line.
            .Select(line => line.Length > 13 ? line[13..] : line)
            .Distinct(StringComparer.Ordinal));

    // A frame ("   at Type.Method(…"), on its own line or, in the single-line console format the tests
    // use, within one; or the marker between two parts of a trace.
    [GeneratedRegex(@"\s{2,}at [^\s(]+\(|End of (inner exception )?stack trace")]
    private static partial Regex Frame();
}
