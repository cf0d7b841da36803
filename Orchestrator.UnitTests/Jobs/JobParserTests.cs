using System.Text;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// The job hash as the API reads it (its history in <c>attempt:&lt;n&gt;</c> fields, after an earlier
/// job's list), and the claim's packed reply (includes/claim.lua joins field, value, … with byte 255).
/// </summary>
public sealed class JobParserTests
{
    private static byte[] Packed(params string[] items) =>
        [.. items.Select(Encoding.UTF8.GetBytes).Aggregate((a, b) => [.. a, 0xFF, .. b])];

    [Fact]
    public void Parse_HistoryFromTheListThenTheHashInAttemptOrder_AttemptFieldsNotJobFields()
    {
        static string Entry(int n) => $"{{\"attempt\":{n},\"startedAt\":{1764790000000 + n}}}";
        HashEntry[] hash =
        [
            new("id", "j-1"), new("status", "processing"), new("prompt", "p"), new("attempts", "11"),
            new("attempt:10", Entry(10)), new("attempt:3", Entry(3)), new("attempt:11", Entry(11)), new("attempt:x", "not an entry"),
        ];

        var job = JobParser.Parse(hash, [Entry(1), Entry(2)]);

        Assert.Equal([1, 2, 3, 10, 11], job.History.Select(a => a.Attempt));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1764790000010), job.History[3].StartedAt);
        Assert.Equal(11, job.Attempts);
    }

    [Fact]
    public void ParsePacked_LaterValueWins_UnknownFieldsSkipped_EmptyLastValueKept()
    {
        var job = JobParser.ParsePacked(Packed(
            "id", "j-1", "tenant", "acme", "status", "queued", "prompt", "Sagen Sie «grüß Gott» ✓", "attempts", "0",
            "lease", "t-1", "leaseOwner", "w-1", "createdAt", "1764790000000",
            // What the claim wrote, appended: these win.
            "status", "processing", "attempts", "1", "attempt:1", "{\"attempt\":1,\"startedAt\":1764790000001}", "traceparent", ""));

        Assert.Equal("j-1", job.Id);
        Assert.Equal("acme", job.Tenant);
        Assert.Equal("processing", job.Status);
        Assert.Equal(1, job.Attempts);
        Assert.Equal("Sagen Sie «grüß Gott» ✓", job.Request.Prompt);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1764790000000), job.CreatedAt);
        Assert.Equal("", job.TraceParent);
        Assert.Empty(job.History);
    }

    [Fact]
    public void ParsePacked_NameWithoutValue_OrRequiredFieldMissing_Throws()
    {
        Assert.Throws<FormatException>(() => JobParser.ParsePacked(Packed("id", "j-1", "status")));
        Assert.Throws<FormatException>(() => JobParser.ParsePacked([]));
        Assert.Throws<KeyNotFoundException>(() => JobParser.ParsePacked(Packed("id", "j-1", "status", "queued")));
    }
}
