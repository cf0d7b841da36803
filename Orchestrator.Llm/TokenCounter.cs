using System.Runtime.CompilerServices;
using Microsoft.ML.Tokenizers;

namespace Orchestrator.Llm;

/// <summary>
/// Counts prompt tokens with <c>o200k_base</c> (the GPT-4o family's encoding). For other model
/// families it is an estimate, which is all flow control needs: the real usage settles the difference.
/// </summary>
public static class TokenCounter
{
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

        var count = Tokenizer.Value.CountTokens(prompt) + 6;
        PromptCounts.TryAdd(prompt, new StrongBox<int>(count));
        return count;
    }

    /// <summary>The text's tokens alone (completion text).</summary>
    public static int Count(string text) => text.Length == 0 ? 0 : Tokenizer.Value.CountTokens(text);
}
