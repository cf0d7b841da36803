using System.Text;
using Microsoft.Extensions.AI;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Gathers what a job keeps of a streamed answer as its updates arrive: the text, the model the
/// provider names, the usage it reports. Written by hand rather than keeping every update for
/// <c>ToChatResponse</c>, which holds each update until the call ends and then coalesces contents,
/// roles, ids and timestamps a job never reads: with 10,000 calls streaming in one worker (S6) that
/// was ~8 % of the worker's CPU per job (docs/performance.md, "A streamed answer gathered as it comes").
/// </summary>
internal sealed class StreamedAnswer
{
    // Most answers come as one piece of text or as many; one piece needs no builder.
    private string? _first;
    private StringBuilder? _text;
    private long? _input;
    private long? _output;

    /// <summary>
    /// Whether the provider said the answer ended (a <c>finish_reason</c>): a stream that stops
    /// without one was cut short, however cleanly its connection closed.
    /// </summary>
    public bool Finished => FinishReason is not null;

    /// <summary>
    /// Why the provider said the answer ended (its last <c>finish_reason</c>): <c>stop</c>, or
    /// <c>length</c> for one cut at the request's token limit, <c>content_filter</c>, …; null until it says.
    /// </summary>
    public string? FinishReason { get; private set; }

    /// <summary>The model the provider said answered (its first naming), if it named one.</summary>
    public string? ModelId { get; private set; }

    /// <summary>Input tokens the provider reported (its last report of them), if it reported any but 0.</summary>
    public long? InputTokens => _input;

    /// <summary>Output tokens the provider reported (its last report of them), if it reported any but 0.</summary>
    public long? OutputTokens => _output;

    /// <summary>
    /// The answer's text so far: every update's text, in order, as the job's <c>delta</c> events carry
    /// it (<c>ChatResponse.Text</c> reads the same for an answer in one message, the usual case).
    /// </summary>
    public string Text => _text?.ToString() ?? _first ?? string.Empty;

    /// <summary>Characters of text so far.</summary>
    public int Length => _text?.Length ?? _first?.Length ?? 0;

    /// <summary>
    /// Whether the answer reached the longest kept (<c>Llm:MaxAnswerLength</c>) and was cut there:
    /// no more is read, and it ends as cut at a limit (<c>length</c>).
    /// </summary>
    public bool CutAtMaxLength { get; private set; }

    /// <summary>Takes one update, with no bound on the answer's length; answers its text (empty when it carries none).</summary>
    public string Add(ChatResponseUpdate update) => AddUpTo(update, int.MaxValue);

    /// <summary>
    /// Takes one update; answers its text (empty when it carries none), only what fits in
    /// <paramref name="maxLength"/> characters: past it the answer is cut (<see cref="CutAtMaxLength"/>).
    /// </summary>
    public string AddUpTo(ChatResponseUpdate update, int maxLength)
    {
        ModelId ??= update.ModelId;
        FinishReason = update.FinishReason?.Value ?? FinishReason;
        foreach (var content in update.Contents)
        {
            if (content is UsageContent { Details: var usage })
            {
                // A stream's usage is cumulative: OpenAI reports it once, at the end; vLLM with
                // continuous_usage_stats on every chunk, each the total so far. The last report
                // counts; their sum counted a 6-chunk answer six times over. The SDK reads a count
                // the provider left out (a usage without completion_tokens) as 0, so a 0 is not a
                // report: the caller counts that part itself, as for a stream with no usage at all
                // (an empty answer counts 0 all the same).
                _input = usage.InputTokenCount is > 0 and var input ? input : _input;
                _output = usage.OutputTokenCount is > 0 and var output ? output : _output;
                // Tokens the total counts beyond prompt + completion are output the completion left
                // out: Gemini's thinking tokens (billed as output), which OpenAI counts in its
                // completion_tokens. Only with the prompt reported, or the split is unknown.
                if (usage is { InputTokenCount: > 0 and var prompt, TotalTokenCount: { } total } && total - prompt > (usage.OutputTokenCount ?? 0))
                {
                    _output = total - prompt;
                }
            }
        }

        // A refusal (OpenAI's delta.refusal, the model declining in place of content) is the
        // answer's text: the SDK's adapter keeps it only beside tool calls, so it completed empty.
        var text = update.RawRepresentation is OpenAI.Chat.StreamingChatCompletionUpdate { RefusalUpdate: { Length: > 0 } refusal }
            ? update.Text + refusal
            : update.Text;
        if (CutAtMaxLength || Length + text.Length > maxLength)
        {
            var fits = CutAtMaxLength ? 0 : maxLength - Length;
            // Not between the halves of a surrogate pair: the kept text stays valid UTF-16.
            fits -= fits > 0 && char.IsHighSurrogate(text[fits - 1]) ? 1 : 0;
            text = text[..Math.Max(0, fits)];
            (CutAtMaxLength, FinishReason) = (true, "length");
        }

        if (text.Length > 0)
        {
            if (_text is not null)
            {
                _text.Append(text);
            }
            else if (_first is null)
            {
                _first = text;
            }
            else
            {
                _text = new StringBuilder(_first, Math.Max(256, (_first.Length + text.Length) * 2)).Append(text);
            }
        }

        return text;
    }
}
