using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>A job's events as Redis holds them (includes/job.lua, job events), read into <see cref="JobEvent"/>s.</summary>
internal static class JobEventElements
{
    /// <summary>
    /// Event <paramref name="id"/> from its element of the job's list: <c>status &lt;status&gt; &lt;attempt&gt; &lt;at&gt;</c>,
    /// <c>delta &lt;attempt&gt; &lt;text&gt;</c> (the text is all the rest, spaces and line breaks
    /// included) or <c>done &lt;status&gt;</c>.
    /// </summary>
    public static JobEvent Parse(string id, string element)
    {
        var rest = element.AsSpan();
        var type = Next(ref rest);
        return type switch
        {
            "status" => new JobEvent(id, JobEvent.StatusType, Next(ref rest).ToString(), Number(Next(ref rest)),
                long.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var at) ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null, null),
            "delta" => new JobEvent(id, JobEvent.Delta, null, Number(Next(ref rest)), null, rest.ToString()),
            "done" => new JobEvent(id, JobEvent.Done, rest.ToString(), null, null, null),
            _ => new JobEvent(id, type.ToString(), null, null, null, null),
        };

        static ReadOnlySpan<char> Next(ref ReadOnlySpan<char> rest)
        {
            var space = rest.IndexOf(' ');
            var word = space < 0 ? rest : rest[..space];
            rest = space < 0 ? [] : rest[(space + 1)..];
            return word;
        }

        static int? Number(ReadOnlySpan<char> text) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    /// <summary>An entry of the stream that held a job's events before the list, as XRANGE answers it: [id, [field, value, …]].</summary>
    public static JobEvent FromStreamEntry(RedisResult[] entry)
    {
        var values = (RedisResult[])entry[1]!;
        string? Field(string name)
        {
            for (var i = 0; i + 1 < values.Length; i += 2)
            {
                if ((string?)values[i] == name)
                {
                    return (string?)values[i + 1];
                }
            }

            return null;
        }

        return new JobEvent(
            (string)entry[0]!,
            Field("type") ?? string.Empty,
            Field("status"),
            int.TryParse(Field("attempt"), NumberStyles.None, CultureInfo.InvariantCulture, out var attempt) ? attempt : null,
            long.TryParse(Field("at"), NumberStyles.None, CultureInfo.InvariantCulture, out var at) ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null,
            Field("text"));
    }
}
