using System.Reflection;
using System.Text.Json;
using Orchestrator.Client;

namespace Orchestrator.IntegrationTests.Client;

/// <summary>
/// The typed client's models name every field the API's schemas (docs/openapi.json, which
/// <c>OpenApiTests</c> holds to the generated document) give, and no other: a field the API adds
/// and the client drops is lost to every .NET caller (an outside audit: a delivery's
/// <c>firstAttemptAt</c> and <c>tries</c>).
/// </summary>
public sealed class ClientModelContractTests
{
    public static TheoryData<string, Type> Models => new()
    {
        { "JobResource", typeof(Job) },
        { "AttemptResource", typeof(JobAttempt) },
        { "WebhookDeliveryResource", typeof(WebhookDelivery) },
        { "WebhookTryResource", typeof(WebhookTry) },
        { "JobResult", typeof(JobResult) },
        { "LlmUsage", typeof(LlmUsage) },
        { "TokenUsage", typeof(TokenUsage) },
        { "JobError", typeof(JobError) },
        { "JobPageResource", typeof(JobPage) },
        { "JobSummaryResource", typeof(JobSummary) },
        { "JobSummaryPageResource", typeof(JobSummaryPage) },
        { "JobCountsResource", typeof(JobCounts) },
        { "RedriveResultResource", typeof(RedriveResult) },
        { "ModelListResource", typeof(ModelCatalog) },
        { "ModelResource", typeof(ServedModel) },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void ClientModel_NamesTheSchemasFields(string schema, Type model)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryFiles.Root, "docs", "openapi.json")));
        var fields = document.RootElement.GetProperty("components").GetProperty("schemas").GetProperty(schema).GetProperty("properties")
            .EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal);
        // A record's fields are its primary constructor's parameters (computed members such as IsFinal are not).
        var parameters = model.GetConstructors(BindingFlags.Public | BindingFlags.Instance).MaxBy(c => c.GetParameters().Length)!.GetParameters()
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name!)).Order(StringComparer.Ordinal);

        Assert.Equal(fields, parameters);
    }
}
