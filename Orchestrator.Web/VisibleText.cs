using System.Globalization;
using System.Text;

namespace Orchestrator.Web;

/// <summary>
/// Text a client wrote (a prompt, an answer, an error message) as the page shows it: its bidirectional
/// controls (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C) written out as <c>⟨U+202E⟩</c>.
/// Left in, they reorder what follows them on the screen: a prompt with a right-to-left override
/// read backwards, and could make one text look like another (CVE-2021-42574's "Trojan Source").
/// The API returns the text as it was sent; only the page marks them.
/// </summary>
internal static class VisibleText
{
    public static string Of(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.AsSpan().IndexOfAny(BidiControls) < 0)
        {
            return text ?? string.Empty;
        }

        var visible = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (BidiControls.Contains(c))
            {
                visible.Append(CultureInfo.InvariantCulture, $"⟨U+{(int)c:X4}⟩");
            }
            else
            {
                visible.Append(c);
            }
        }

        return visible.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> BidiControls = System.Buffers.SearchValues.Create(
        "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C");
}
