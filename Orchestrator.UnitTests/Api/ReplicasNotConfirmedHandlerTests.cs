using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Api;
using Orchestrator.Api.Jobs;

namespace Orchestrator.UnitTests.Api;

/// <summary>
/// A submission too few replicas confirmed (<c>Redis:WaitReplicas</c>) is a 503 the client retries; in
/// a failover every submission meets it, and its log line must not come once per request (an outside
/// audit: 783 lines in 69 s).
/// </summary>
public sealed class ReplicasNotConfirmedHandlerTests
{
    private static readonly ServiceProvider Services = new ServiceCollection().AddLogging().AddProblemDetails().BuildServiceProvider();

    [Fact]
    public async Task NotConfirmed_Answers503ProblemWithRetryAfter()
    {
        var context = NewContext();

        Assert.True(await NewHandler(new FakeLogger<ReplicasNotConfirmedHandler>(), TimeProvider.System)
            .TryHandleAsync(context, new ReplicasNotConfirmedException(1, 0), TestContext.Current.CancellationToken));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("1", context.Response.Headers.RetryAfter.ToString());
        context.Response.Body.Position = 0;
        using var problem = await JsonDocument.ParseAsync(context.Response.Body, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(ReplicasNotConfirmedHandler.NotReplicatedType, problem.RootElement.GetProperty("type").GetString());
    }

    [Fact]
    public async Task EverySubmissionNotConfirmed_LogsOneLinePerSecond_CountingTheOthers()
    {
        var logger = new FakeLogger<ReplicasNotConfirmedHandler>();
        var time = new FakeTimeProvider();
        var handler = NewHandler(logger, time);

        for (var request = 0; request < 50; request++)
        {
            Assert.True(await handler.TryHandleAsync(NewContext(), new ReplicasNotConfirmedException(1, 0), TestContext.Current.CancellationToken));
            time.Advance(TimeSpan.FromMilliseconds(30));
        }

        // 50 requests over 1.5 s: the first, then the one a second later, which counts the 33 between.
        Assert.Equal(2, logger.Collector.Count);
        Assert.Contains("0 of 1 replicas confirmed it in time", logger.LatestRecord.Message, StringComparison.Ordinal);
        Assert.Contains("(33 more submissions answered 503 so since the last such line)", logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    private static ReplicasNotConfirmedHandler NewHandler(FakeLogger<ReplicasNotConfirmedHandler> logger, TimeProvider time) =>
        new(Services.GetRequiredService<IProblemDetailsService>(), logger, time);

    private static DefaultHttpContext NewContext()
    {
        var context = new DefaultHttpContext { RequestServices = Services };
        context.Response.Body = new MemoryStream();
        return context;
    }
}
