using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Orchestrator.Benchmarks;

/// <summary>One row of the final table: medians across runs, and the worst correctness counts.</summary>
internal sealed record SummaryLine(
    string Scenario, string Variant, double? JobsPerSecond, double? P50Ms, double? P99Ms, double? Ratio,
    IReadOnlyDictionary<string, double> Extras, IReadOnlyDictionary<string, double> Checks);

internal static class Summary
{
    public static IReadOnlyList<SummaryLine> Of(IReadOnlyList<IReadOnlyList<ScenarioResult>> runs)
    {
        return [.. runs.SelectMany(r => r).GroupBy(r => r.Key).Select(group =>
        {
            var all = group.ToArray();
            return new SummaryLine(all[0].Scenario, all[0].Variant,
                Median(all.Select(r => r.JobsPerSecond)), Median(all.Select(r => r.P50Ms)), Median(all.Select(r => r.P99Ms)),
                Median(all.Select(r => r.Ratio)),
                Merge(all.Select(r => r.Extras), values => Median(values.Select(v => (double?)v))!.Value),
                Merge(all.Select(r => r.Checks), values => values.Max()));
        })];
    }

    public static void WriteTable(TextWriter writer, IReadOnlyList<SummaryLine> lines)
    {
        writer.WriteLine($"{"scenario",-8} {"variant",-30} {"jobs/s",9} {"p50 ms",8} {"p99 ms",8} {"ratio",6}  notes");
        writer.WriteLine(new string('-', 120));
        foreach (var line in lines)
        {
            var notes = string.Join(", ", line.Extras.Concat(line.Checks).Select(p => $"{p.Key}={Format(p.Value)}"));
            writer.WriteLine(
                $"{line.Scenario,-8} {line.Variant,-30} {Format(line.JobsPerSecond, "0"),9} {Format(line.P50Ms, "0.0"),8} {Format(line.P99Ms, "0.0"),8} {Format(line.Ratio, "0.00"),6}  {notes}");
        }
    }

    public static string ToJson(SummaryLine line, int runs)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("scenario", line.Scenario);
            json.WriteString("variant", line.Variant);
            Number(json, "jobs_per_s", line.JobsPerSecond);
            Number(json, "p50_ms", line.P50Ms);
            Number(json, "p99_ms", line.P99Ms);
            Number(json, "ratio", line.Ratio);
            json.WriteNumber("runs", runs);
            foreach (var (name, value) in line.Extras.Concat(line.Checks))
            {
                Number(json, name, value);
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            json.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static double? Median(IEnumerable<double?> values)
    {
        var known = values.Where(v => v is { } x && double.IsFinite(x)).Select(v => v!.Value).Order().ToArray();
        if (known.Length == 0)
        {
            return null;
        }

        var middle = known.Length / 2;
        return known.Length % 2 == 1 ? known[middle] : (known[middle - 1] + known[middle]) / 2;
    }

    private static Dictionary<string, double> Merge(IEnumerable<IReadOnlyDictionary<string, double>?> maps, Func<IReadOnlyList<double>, double> combine) =>
        maps.Where(m => m is not null).SelectMany(m => m!)
            .GroupBy(p => p.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => combine([.. g.Select(p => p.Value)]), StringComparer.Ordinal);

    private static string Format(double? value, string format = "0.###") =>
        value is { } v && double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}
