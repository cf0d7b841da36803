using System.Text;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>The claim's packed reply (includes/claim.lua joins field, value, … with byte 255).</summary>
public sealed class JobParserTests
{
    private static byte[] Packed(params string[] items) =>
        [.. items.Select(Encoding.UTF8.GetBytes).Aggregate((a, b) => [.. a, 0xFF, .. b])];

    [Fact]
    public void ParsePacked_LaterValueWins_UnknownFieldsSkipped_EmptyLastValueKept()
    {
        var job = JobParser.ParsePacked(Packed(
            "id", "j-1", "tenant", "acme", "status", "queued", "prompt", "Sagen Sie «grüß Gott» ✓", "attempts", "0",
            "lease", "t-1", "leaseOwner", "w-1", "createdAt", "1764790000000",
            // What the claim wrote, appended: these win.
            "status", "processing", "attempts", "1", "traceparent", ""));

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
