using System.Globalization;
using System.Text;
using Microsoft.ML.Tokenizers;
using Orchestrator.Llm;

namespace Orchestrator.UnitTests.Llm;

/// <summary>How prompts are cut into pieces for counting, so that no piece costs the square of a long run.</summary>
public sealed class TokenCounterTests
{
    private static readonly Tokenizer Whole = TiktokenTokenizer.CreateForEncoding("o200k_base");

    public static TheoryData<string, string> LongRuns => new()
    {
        { "letters", new string('a', 100_000) },
        { "emoji", string.Concat(Enumerable.Repeat("😀", 100_000)) },
        { "Chinese without punctuation", string.Concat(Enumerable.Repeat("分布式系统是一组通过网络进行通信的计算机", 5_000)) },
        { "spaces", new string(' ', 100_000) },
        { "newlines between words", string.Join(new string('\n', 3_000), Enumerable.Repeat("word", 30)) },
    };

    [Theory]
    [MemberData(nameof(LongRuns))]
    public void ALongRun_IsCountedInPiecesWithRunsOfAtMostMaxRun_AndNoPairIsSplit(string name, string text)
    {
        var pieces = Pieces(text);

        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, piece => Assert.True(LongestRun(piece) <= TokenCounter.MaxRun + 1, $"{name}: a run of {LongestRun(piece)} characters"));
        Assert.All(pieces, piece => Assert.False(char.IsHighSurrogate(piece[^1]), $"{name}: a piece ends inside a surrogate pair"));
    }

    [Theory]
    [MemberData(nameof(LongRuns))]
    public void ALongRun_CountsNearlyWhatTheWholeTextCounts(string name, string text)
    {
        // A cut may add a token: at most one per piece, against the whole count of a sample (the whole
        // text would take the tokenizer tens of seconds; a run's tokens grow with its length).
        var counted = TokenCounter.Count(text);
        var pieces = Pieces(text).Count;
        var sample = Whole.CountTokens(text[..(TokenCounter.MaxRun * 8)]) * (text.Length / (TokenCounter.MaxRun * 8.0));

        Assert.InRange(counted, sample * 0.9, (sample * 1.1) + pieces);
        Assert.True(counted > 0, name);
    }

    [Fact]
    public void OrdinaryText_IsOnePiece_CountedAsTheTokenizerCountsIt()
    {
        var text = new StringBuilder();
        for (var i = 0; i < 2_000; i++)
        {
            text.Append(CultureInfo.InvariantCulture, $"Sentence {i} of a long prompt, with words, digits 12345 and 😀 emoji.\n");
        }

        var prompt = text.ToString();
        Assert.Single(Pieces(prompt));
        Assert.Equal(Whole.CountTokens(prompt), TokenCounter.Count(prompt));
        Assert.Equal(Whole.CountTokens(prompt) + 6, TokenCounter.CountPrompt(prompt));
        Assert.Equal(0, TokenCounter.Count(""));
    }

    // The longest run of spaces or of other characters (the +1 above: a cut is not made inside a surrogate pair).
    private static int LongestRun(string text)
    {
        int longest = 0, start = 0;
        for (var i = 1; i <= text.Length; i++)
        {
            if (i == text.Length || char.IsWhiteSpace(text[i]) != char.IsWhiteSpace(text[i - 1]))
            {
                longest = Math.Max(longest, i - start);
                start = i;
            }
        }

        return longest;
    }

    private static List<string> Pieces(string text)
    {
        var pieces = new List<string>();
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var length = TokenCounter.PieceLength(rest);
            pieces.Add(rest[..length].ToString());
            rest = rest[length..];
        }

        return pieces;
    }
}
