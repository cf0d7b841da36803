using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Client;

/// <summary>Source-generated JSON for what the client sends and reads.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JobSubmission))]
[JsonSerializable(typeof(SubmitAnswer))]
[JsonSerializable(typeof(Job))]
[JsonSerializable(typeof(DeadLetterPage))]
[JsonSerializable(typeof(JobPage))]
[JsonSerializable(typeof(JobSummaryPage))]
[JsonSerializable(typeof(JobCounts))]
[JsonSerializable(typeof(ProblemBody))]
[JsonSerializable(typeof(JobEventData))]
[JsonSerializable(typeof(DeadLetterFilter))]
[JsonSerializable(typeof(RedriveResult))]
[JsonSerializable(typeof(ModelCatalog))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
