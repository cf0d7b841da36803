using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// The 429 queue-full detail compares like with like: with <c>Jobs:Partitions</c> N &gt; 1 the
/// refusing script counted one partition's jobs against its share ⌈limit / N⌉, not the fleet's limit.
/// The full-store answers (queue-full, storage-full, quota-exceeded) tell a client to re-send with
/// the same idempotency key only when it sent one (a redrive takes none).
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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FullStoreAnswers_MentionTheIdempotencyKey_OnlyWhenOneWasSent(bool keyed)
    {
        var context = new DefaultHttpContext();
        IResult[] answers =
        [
            SubmitProblems.QueueFull(context, keyed, 10, 10),
            SubmitProblems.StorageFull(context, keyed),
            SubmitProblems.QuotaExceeded(context, keyed, "acme", new QuotaRefusal(QuotaRefusal.RequestsPerMinute, 20, TimeSpan.FromSeconds(3))),
            SubmitProblems.QuotaExceeded(context, keyed, "acme", new QuotaRefusal(QuotaRefusal.MaxQueuedJobs, 20, TimeSpan.FromSeconds(3))),
        ];

        Assert.All(answers, answer =>
        {
            var detail = Assert.IsType<ProblemHttpResult>(answer).ProblemDetails.Detail!;
            Assert.Equal(keyed, detail.Contains("idempotency key", StringComparison.Ordinal));
            Assert.Contains("Retry", detail, StringComparison.Ordinal);
        });
    }

    private static string Detail(long queued, int limit, int partitions)
    {
        var context = new DefaultHttpContext();

        var problem = Assert.IsType<ProblemHttpResult>(SubmitProblems.QueueFull(context, keyed: true, queued, limit, partitions));

        Assert.Equal(StatusCodes.Status429TooManyRequests, problem.StatusCode);
        Assert.Equal("5", context.Response.Headers.RetryAfter.ToString());
        return problem.ProblemDetails.Detail!;
    }
}
