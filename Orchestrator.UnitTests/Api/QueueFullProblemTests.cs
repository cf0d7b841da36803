using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Orchestrator.Api.Jobs;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// The 429 queue-full detail compares like with like: with <c>Jobs:Partitions</c> N &gt; 1 the
/// refusing script counted one partition's jobs against its share ⌈limit / N⌉, not the fleet's limit.
/// </summary>
public sealed class QueueFullProblemTests
{
    [Fact]
    public void OnePartition_NamesTheCountAndTheLimit()
    {
        var detail = Detail(queued: 100_000, limit: 100_000, partitions: 1);

        Assert.StartsWith("100,000 jobs are waiting or running; the limit is 100,000 (Api:MaxQueuedJobs).", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void SixPartitions_NamesThePartitionsShare()
    {
        var detail = Detail(queued: 16_667, limit: 100_000, partitions: 6);

        Assert.StartsWith(
            "16,667 jobs are waiting or running in this job's partition; each of the 6 partitions holds at most 16,667 " +
            "(Api:MaxQueuedJobs 100,000 over Jobs:Partitions 6).", detail, StringComparison.Ordinal);
    }

    private static string Detail(long queued, int limit, int partitions)
    {
        var context = new DefaultHttpContext();

        var problem = Assert.IsType<ProblemHttpResult>(SubmitProblems.QueueFull(context, queued, limit, partitions));

        Assert.Equal(StatusCodes.Status429TooManyRequests, problem.StatusCode);
        Assert.Equal("5", context.Response.Headers.RetryAfter.ToString());
        return problem.ProblemDetails.Detail!;
    }
}
