using System.Text.Json;
using System.Text.Json.Serialization;
using Orchestrator.Llm.Simulation;

namespace Orchestrator.LlmSimulator;

/// <summary>The part of OpenAI's chat-completions request the simulator reads.</summary>
internal sealed record ChatCompletionRequest(
    string? Model,
    List<ChatMessageDto>? Messages,
    [property: JsonPropertyName("max_tokens")] int? MaxTokens,
    [property: JsonPropertyName("max_completion_tokens")] int? MaxCompletionTokens,
    bool? Stream,
    [property: JsonPropertyName("stream_options")] StreamOptionsDto? StreamOptions,
    Dictionary<string, string>? Metadata);

internal sealed record StreamOptionsDto([property: JsonPropertyName("include_usage")] bool? IncludeUsage);

/// <summary>A message; <c>content</c> is a string or an array of parts (only text parts are read).</summary>
internal sealed record ChatMessageDto(string? Role, JsonElement Content)
{
    public string Text => Content.ValueKind switch
    {
        JsonValueKind.String => Content.GetString() ?? "",
        JsonValueKind.Array => string.Concat(Content.EnumerateArray()
            .Where(p => p.TryGetProperty("text", out _)).Select(p => p.GetProperty("text").GetString())),
        _ => "",
    };
}

internal sealed record UsageDto(
    [property: JsonPropertyName("prompt_tokens")] int PromptTokens,
    [property: JsonPropertyName("completion_tokens")] int CompletionTokens,
    [property: JsonPropertyName("total_tokens")] int TotalTokens);

internal sealed record MessageDto(string Role, string? Content);

internal sealed record ChoiceDto(int Index, MessageDto Message, [property: JsonPropertyName("finish_reason")] string FinishReason);

internal sealed record ChatCompletionDto(string Id, string Object, long Created, string Model, List<ChoiceDto> Choices, UsageDto Usage);

internal sealed record DeltaDto(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

internal sealed record ChunkChoiceDto(int Index, DeltaDto Delta, [property: JsonPropertyName("finish_reason")] string? FinishReason);

internal sealed record ChatCompletionChunkDto(
    string Id, string Object, long Created, string Model, List<ChunkChoiceDto> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] UsageDto? Usage);

internal sealed record ErrorBodyDto(string Message, string Type, string? Param, string? Code);

internal sealed record ErrorDto(ErrorBodyDto Error);

internal sealed record ModelDto(string Id, string Object, long Created, [property: JsonPropertyName("owned_by")] string OwnedBy);

internal sealed record ModelListDto(string Object, List<ModelDto> Data);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletionDto))]
[JsonSerializable(typeof(ChatCompletionChunkDto))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(ModelListDto))]
internal sealed partial class SimulatorJsonContext : JsonSerializerContext;

/// <summary><c>GET /stats</c> is camelCase (ours, not OpenAI's).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(SimulatorStats))]
internal sealed partial class StatsJsonContext : JsonSerializerContext;
