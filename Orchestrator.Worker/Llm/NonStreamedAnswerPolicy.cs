using System.ClientModel.Primitives;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Reads a JSON body answered to a streamed call as the stream it stands for. A server that ignores
/// <c>stream: true</c> answers one <c>chat.completion</c>, in which the SDK's stream reader finds no
/// event: the answer would read as empty. This policy, in each provider client's pipeline, hands the
/// reader that completion as the one chunk it would have streamed (its messages as deltas, with their
/// finish reasons and the usage), then <c>[DONE]</c>; any other JSON object (an <c>error</c> sent with
/// status 200) as one event, which <see cref="ProviderEventStream"/> reads as an error inside a
/// stream. A body that does not parse is left as it came: the reader finds no finish reason in it,
/// a transient failure. Error statuses and real streams (<c>text/event-stream</c>) pass untouched.
/// </summary>
internal sealed class NonStreamedAnswerPolicy : PipelinePolicy
{
    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        if (JsonAnswerToStream(message) is { } response)
        {
            response.BufferContent(message.CancellationToken);
            Rewrite(response);
        }
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex).ConfigureAwait(false);
        if (JsonAnswerToStream(message) is { } response)
        {
            await response.BufferContentAsync(message.CancellationToken).ConfigureAwait(false);
            Rewrite(response);
        }
    }

    // A streamed call's response is not buffered by the SDK; a successful one in JSON is no stream.
    private static PipelineResponse? JsonAnswerToStream(PipelineMessage message) =>
        !message.BufferResponse
        && message.Response is { IsError: false } response
        && response.Headers.TryGetValue("Content-Type", out var type)
        && type?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true
            ? response
            : null;

    private static void Rewrite(PipelineResponse response)
    {
        JsonNode? body;
        try
        {
            body = JsonNode.Parse(response.Content.ToMemory().Span);
        }
        catch (JsonException)
        {
            return;
        }

        if (body is not JsonObject answer)
        {
            return;
        }

        var events = $"data: {answer.ToJsonString()}\n\n";
        if (answer["choices"] is JsonArray choices)
        {
            answer["object"] = "chat.completion.chunk";
            foreach (var choice in choices.OfType<JsonObject>())
            {
                if (choice["message"] is { } whole)
                {
                    choice.Remove("message");
                    choice["delta"] = whole;
                }
            }

            events = $"data: {answer.ToJsonString()}\n\ndata: [DONE]\n\n";
        }

        // Not a MemoryStream: the response, disposed, would buffer that again and insist on reading it from its start.
        response.ContentStream = BinaryData.FromString(events).ToStream();
    }
}
