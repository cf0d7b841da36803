using System.Runtime.CompilerServices;
using Microsoft.ML.Tokenizers;

namespace Orchestrator.Llm;

/// <summary>
/// Counts prompt tokens with <c>o200k_base</c> (the GPT-4o family's encoding). For other model
/// families it is an estimate, which is all flow control needs: the real usage settles the difference.
/// </summary>
public static class TokenCounter
{
    /// <summary>
    /// The longest run of spaces or of other characters counted in one piece. Byte-pair merging costs
    /// the square of a piece's length: 10,000 emoji without a space took 0.45 s, a prompt of 100,000
    /// (within <c>Api:MaxPromptLength</c>) 81 s, twice per attempt (flow control, then the simulator).
    /// A longer run is cut every so many characters: each cut may add a token, ~1 in 30 for such
    /// text, and text with spaces at least this often is counted exactly as a whole.
    /// </summary>
    internal const int MaxRun = 256;

    private static readonly Lazy<Tokenizer> Tokenizer = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    // A prompt is counted before each of its job's attempts (flow control) and again by the in-process
    // simulator for its usage: the same string each time. Counted once while the string lives, by
    // reference, so the table holds nothing a collection would free. (Tokenizing is ~7-15 µs a prompt.)
    private static readonly ConditionalWeakTable<string, StrongBox<int>> PromptCounts = new();

    /// <summary>
    /// Tokens the chat-completions API counts for one user message: the text's tokens plus the
    /// message framing (3 per message, 3 to prime the reply, as OpenAI's cookbook counts them).
    /// </summary>
    public static int CountPrompt(string prompt)
    {
        if (PromptCounts.TryGetValue(prompt, out var known))
        {
            return known.Value;
        }

        var count = Count(prompt) + 6;
        PromptCounts.TryAdd(prompt, new StrongBox<int>(count));
        return count;
    }

    /// <summary>The text's tokens alone (completion text).</summary>
    public static int Count(string text)
    {
        var tokens = 0;
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var length = PieceLength(rest);
            tokens += Tokenizer.Value.CountTokens(rest[..length]);
            rest = rest[length..];
        }

        return tokens;
    }

    /// <summary>
    /// The length of the first piece of <paramref name="text"/> to count: all of it unless a run of
    /// spaces or of other characters reaches <see cref="MaxRun"/>, then up to that point (never
    /// between the two halves of a surrogate pair).
    /// </summary>
    internal static int PieceLength(ReadOnlySpan<char> text)
    {
        var runStart = 0;
        for (var i = 1; i < text.Length; i++)
        {
            if (char.IsWhiteSpace(text[i]) != char.IsWhiteSpace(text[i - 1]))
            {
                runStart = i;
            }
            else if (i - runStart >= MaxRun && !char.IsLowSurrogate(text[i]))
            {
                return i;
            }
        }

        return text.Length;
    }
}
