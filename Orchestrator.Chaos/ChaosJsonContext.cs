using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Chaos;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ClientEvent))]
[JsonSerializable(typeof(SubmitBody))]
[JsonSerializable(typeof(AcceptedBody))]
[JsonSerializable(typeof(JobView))]
internal sealed partial class ChaosJsonContext : JsonSerializerContext;

/// <summary>The body the clients send to <c>POST /jobs</c>.</summary>
internal sealed record SubmitBody(string Prompt, Dictionary<string, string> Metadata);

/// <summary>The fields of the 202 answer the clients read.</summary>
internal sealed record AcceptedBody(string JobId, string Status);

/// <summary>The fields of <c>GET /jobs/{id}</c> the observer reads.</summary>
internal sealed record JobView(string JobId, string Status, int Attempts, DateTimeOffset? CompletedAt, JobViewResult? Result);

/// <summary>The result text of a completed job.</summary>
internal sealed record JobViewResult(string Text);
