using System.ClientModel.Primitives;
using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Bounds what a provider's response body can cost, innermost in each provider client's pipeline
/// (next to the transport, before any other policy reads or buffers the body):
/// <list type="bullet">
/// <item>An error status's body is read up to <see cref="ErrorBodyBytes"/> (enough to parse a JSON
/// error of a megabyte for its type and message), and on the call's token: the SDK buffers it with none, so a 500
/// whose body stalled held its slot, past every timeout and a cancel, and one that never ended grew
/// the worker by 10 MB a second.</item>
/// <item>A successful body's line (one event of a stream, or a JSON answer on one line), and a body
/// that is no stream in all, is refused past <see cref="AnswerBytes"/>: one 200 MB event cost the
/// worker 2 GB, and at a heap limit ended the attempt as <c>unexpected</c> (out of memory).</item>
/// </list>
/// </summary>
internal sealed class BoundedBodyPolicy(int maxAnswerLength) : ResponsePolicy
{
    /// <summary>The most of an error body read.</summary>
    internal const int ErrorBodyBytes = 2 * 1024 * 1024;

    /// <summary>
    /// The most bytes one line of an answer may take: <c>Llm:MaxAnswerLength</c> characters, each at
    /// most 6 bytes in JSON (<c>\uXXXX</c>), and 64 KiB for the rest of its event.
    /// </summary>
    internal long AnswerBytes { get; } = (6L * maxAnswerLength) + (64 * 1024);

    /// <inheritdoc />
    protected override void OnResponse(PipelineMessage message)
    {
        if (message.Response is not { ContentStream: { } stream } response || stream is BoundedBodyStream)
        {
            return;
        }

        var isStream = response.Headers.TryGetValue("Content-Type", out var type)
            && type?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;
        response.ContentStream = response.IsError
            ? new BoundedBodyStream(stream, message.CancellationToken, totalBytes: ErrorBodyBytes, lineBytes: null, refuse: null)
            : new BoundedBodyStream(stream, message.CancellationToken, totalBytes: isStream ? null : AnswerBytes, lineBytes: AnswerBytes,
                refuse: bytes => new LlmException(LlmErrorKind.Transient,
                    $"The provider's answer has {(isStream ? "an event" : "a body")} of over {bytes:N0} bytes, more than an answer of " +
                    $"Llm:MaxAnswerLength ({maxAnswerLength:N0} characters) takes: not read further."));
    }
}
