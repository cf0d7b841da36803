using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orchestrator.Chaos;

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ClientEvent))]
[JsonSerializable(typeof(SubmitBody))]
[JsonSerializable(typeof(AcceptedBody))]
internal sealed partial class ChaosJsonContext : JsonSerializerContext;

/// <summary>The body the clients send to <c>POST /jobs</c>.</summary>
internal sealed record SubmitBody(string Prompt, Dictionary<string, string> Metadata);

/// <summary>The fields of the 202 answer the clients read.</summary>
internal sealed record AcceptedBody(string JobId, string Status);

