using System.Text;
using System.Text.Json;

namespace Orchestrator.Jobs;

/// <summary>A job's metadata as the job hash stores it: one compact JSON object.</summary>
public static class JobMetadata
{
    /// <summary>The stored form.</summary>
    public static string ToJson(IReadOnlyDictionary<string, string> metadata) =>
        JsonSerializer.Serialize(new Dictionary<string, string>(metadata), JobsJsonContext.Default.DictionaryStringString);

    /// <summary>
    /// Bytes the metadata takes in Redis (UTF-8 of <see cref="ToJson"/>; characters outside ASCII,
    /// controls and the HTML-sensitive <c>" &amp; ' + &lt; &gt; `</c> are stored escaped, <c>\uXXXX</c>):
    /// what <c>Api:MaxMetadataBytes</c> bounds.
    /// </summary>
    public static int StoredBytes(IReadOnlyDictionary<string, string> metadata) => Encoding.UTF8.GetByteCount(ToJson(metadata));
}
