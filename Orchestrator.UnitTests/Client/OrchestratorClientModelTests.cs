using System.Net;
using System.Text;
using Orchestrator.Client;

namespace Orchestrator.UnitTests.Client;

/// <summary>
/// A job read by the typed client keeps what the API sends of its webhook deliveries: docs/webhooks.md's
/// example, field for field.
/// </summary>
public sealed class OrchestratorClientModelTests
{
    private const string JobWithADelivery = """
        {"jobId":"foZ8v1C88lJdGn7veA4i7g","status":"completed","prompt":"p","model":null,"maxTokens":null,"temperature":null,
         "metadata":null,"attempts":1,"maxAttempts":5,"createdAt":"2026-12-02T07:29:49.000Z","updatedAt":"2026-12-02T07:29:49.702Z",
         "completedAt":"2026-12-02T07:29:49.702Z","nextAttemptAt":null,"result":null,"error":null,"history":[],
         "callbackUrl":"https://hooks.example/orchestrator",
         "webhooks":[{"id":"foZ8v1C88lJdGn7veA4i7g.1","type":"job.completed","status":"delivered","attempts":2,
           "createdAt":"2026-12-02T07:29:49.702Z","firstAttemptAt":"2026-12-02T07:29:49.910Z",
           "lastAttemptAt":"2026-12-02T07:30:06.120Z","lastStatusCode":200,"lastError":null,
           "nextAttemptAt":null,"deliveredAt":"2026-12-02T07:30:06.187Z",
           "tries":[{"at":"2026-12-02T07:29:49.910Z","statusCode":500,"error":"HTTP 500"},{"at":"2026-12-02T07:30:06.120Z","statusCode":200,"error":null}]}]}
        """;

    [Fact]
    public async Task GetAsync_AJobsDelivery_KeepsItsFirstTryAndItsTries()
    {
        var handler = new ScriptedHandler((_, _) => Task.FromResult(
            new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(JobWithADelivery, Encoding.UTF8, "application/json") }));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };

        var job = await new OrchestratorClient(http).GetAsync("foZ8v1C88lJdGn7veA4i7g", TestContext.Current.CancellationToken);

        var delivery = Assert.Single(job!.Webhooks!);
        Assert.Equal(DateTimeOffset.Parse("2026-12-02T07:29:49.910Z", System.Globalization.CultureInfo.InvariantCulture), delivery.FirstAttemptAt);
        Assert.Equal(
            [new WebhookTry(DateTimeOffset.Parse("2026-12-02T07:29:49.910Z", System.Globalization.CultureInfo.InvariantCulture), 500, "HTTP 500"),
             new WebhookTry(DateTimeOffset.Parse("2026-12-02T07:30:06.120Z", System.Globalization.CultureInfo.InvariantCulture), 200, null)],
            delivery.Tries!);
    }
}
