using System.Buffers.Text;
using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>Job ids are 22 URL-safe characters of randomness: distinct, and telling nothing about each other.</summary>
public sealed class JobIdsTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task Submit_100Jobs_IdsAreDistinctWellFormedAndNotSequential()
    {
        using var client = api.CreateApiClient();
        var ids = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"same prompt every time"}"""));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)
                .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
            ids.Add(json.RootElement.GetProperty("jobId").GetString()!);
        }

        Assert.Equal(100, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, AssertWellFormed);
        AssertUnrelated(ids);
    }

    [Fact]
    public void New_10000Ids_DistinctWellFormedAndUnrelated()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => JobIds.New()).ToList();

        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, AssertWellFormed);
        AssertUnrelated(ids);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA+")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA/")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAA ")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAé")]
    [InlineData("{orch}:streamAAAAAAAAA")]
    public void IsWellFormed_NotAJobId_False(string? value) => Assert.False(JobIds.IsWellFormed(value));

    private static void AssertWellFormed(string id)
    {
        Assert.Equal(22, id.Length);
        Assert.All(id, c => Assert.True(char.IsAsciiLetterOrDigit(c) || c is '-' or '_', $"'{c}' in '{id}' is not URL-safe."));
        Assert.True(JobIds.IsWellFormed(id));
        Assert.Equal(16, Base64Url.DecodeFromChars(id).Length);
    }

    /// <summary>
    /// Consecutive ids share no prefix beyond chance: with 64 symbols a common prefix of 5 or more
    /// characters between two random ids has probability 64^-5 ≈ 1e-9, so across the 10,000 pairs
    /// here it does not happen unless the ids are sequential or time-ordered.
    /// </summary>
    private static void AssertUnrelated(IReadOnlyList<string> ids)
    {
        for (var i = 1; i < ids.Count; i++)
        {
            var common = ids[i - 1].AsSpan().CommonPrefixLength(ids[i]);
            Assert.True(common < 5, $"'{ids[i - 1]}' and '{ids[i]}' share a {common}-character prefix.");
        }

        // Time-ordered ids would keep the first character constant over a short run; random ones spread it.
        Assert.True(ids.Select(id => id[0]).Distinct().Count() >= Math.Min(ids.Count / 4, 40),
            "The first characters of the ids are not spread out.");
    }
}
