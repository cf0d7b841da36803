using System.Net;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// A cancel and a redrive of a dead letter sent at the same instant, with no worker running: the
/// cancel either finds the job failed (409, "already failed") or, redriven first, queued (canceled
/// at once, 200). It was answered from a read after its script: a job redriven in between read
/// <c>queued</c>, and the cancel answered 202 with nothing canceled (an outside audit: 12 of 300
/// pairs; the job then ran and failed). A redrive refused in the race names the status its own
/// script found, not one read later.
/// </summary>
public sealed class CancelRedriveRaceTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private const int Pairs = 150;

    [Fact]
    public async Task CancelAndRedriveAtOnce_TheCancelIsAnswered200Or409_AsTheJobEnds()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = api.CreateApiClient();
        var worker = await TestWorker.StartAsync(api);
        var jobIds = new List<string>();
        for (var i = 0; i < Pairs; i++)
        {
            using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"race {{i}}"}"""));
            using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(cancellationToken));
            jobIds.Add(accepted.RootElement.GetProperty("jobId").GetString()!);
        }

        foreach (var (lease, attempt) in await worker.StartAttemptsAsync(Pairs))
        {
            await worker.FailAsync(lease, attempt);
        }

        var answers = await Task.WhenAll(jobIds.Select(async jobId =>
        {
            var cancel = client.PostAsync($"/jobs/{jobId}/cancel", null, cancellationToken);
            var redrive = client.PostAsync($"/dead-letters/{jobId}/redrive", null, cancellationToken);
            using var canceled = await cancel.WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
            using var redriven = await redrive.WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
            using var read = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
            using var job = JsonDocument.Parse(await read.Content.ReadAsStringAsync(cancellationToken));
            return (JobId: jobId, Cancel: canceled.StatusCode, CancelBody: await canceled.Content.ReadAsStringAsync(cancellationToken),
                Redrive: redriven.StatusCode, RedriveBody: await redriven.Content.ReadAsStringAsync(cancellationToken),
                Status: job.RootElement.GetProperty("status").GetString());
        }));

        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", answers.GroupBy(a => (a.Cancel, a.Redrive, a.Status)).Select(g => $"{g.Key}: {g.Count()}")));
        foreach (var a in answers)
        {
            switch (a.Cancel)
            {
                case HttpStatusCode.OK:
                    // Redriven first, then canceled while queued.
                    Assert.Equal((HttpStatusCode.OK, "canceled"), (a.Redrive, a.Status));
                    break;
                case HttpStatusCode.Conflict:
                    // Found failed: the redrive then took it up, or (sent first) already had.
                    Assert.Contains("already failed", a.CancelBody, StringComparison.Ordinal);
                    Assert.Equal((HttpStatusCode.OK, "queued"), (a.Redrive, a.Status));
                    break;
                default:
                    Assert.Fail($"job {a.JobId}: the cancel answered {(int)a.Cancel} ({a.CancelBody}); redrive {(int)a.Redrive}, job {a.Status}");
                    break;
            }
        }
    }
}
