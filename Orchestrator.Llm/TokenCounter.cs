using Microsoft.ML.Tokenizers;

namespace Orchestrator.Llm;

/// <summary>
/// Counts prompt tokens with <c>o200k_base</c> (the GPT-4o family's encoding). For other model
/// families it is an estimate, which is all flow control needs: the real usage settles the difference.
/// </summary>
public static class TokenCounter
{
    private static readonly Lazy<Tokenizer> Tokenizer = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    /// <summary>
    /// Tokens the chat-completions API counts for one user message: the text's tokens plus the
    /// message framing (3 per message, 3 to prime the reply, as OpenAI's cookbook counts them).
    /// </summary>
    public static int CountPrompt(string prompt) => Tokenizer.Value.CountTokens(prompt) + 6;

    /// <summary>The text's tokens alone (completion text).</summary>
    public static int Count(string text) => text.Length == 0 ? 0 : Tokenizer.Value.CountTokens(text);
}
