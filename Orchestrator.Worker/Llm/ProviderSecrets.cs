using System.Text.RegularExpressions;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Keeps the providers' API keys out of what a provider writes and the worker stores or logs (a
/// job's error, its history, dead letter and webhook, log lines, span statuses). Some gateways
/// (LiteLLM) echo the key they were sent in a 401's message, and a tenant reads its job's error:
/// every configured key is replaced by <see cref="Mark"/>, whichever provider answered, as is the
/// value of any <c>Bearer</c> credential the text quotes.
/// </summary>
/// <remarks>
/// Process-wide, and only ever added to: the classification of a failure (<see cref="LlmFailure"/>,
/// <c>AttemptFailure</c>) is static and runs far from the options, and redacting a key of another
/// host in the same process (tests) costs nothing. <see cref="ChatClientRegistry"/> adds every
/// provider's key when it is built, before any call can go out.
/// </remarks>
public static partial class ProviderSecrets
{
    /// <summary>What a redacted key reads as.</summary>
    public const string Mark = "[redacted]";

    /// <summary>
    /// The shortest key redacted (characters). A shorter one is a placeholder for a local server that
    /// takes any key (<c>EMPTY</c>, <c>ollama</c>), not a secret, and replacing it wherever it occurs
    /// would garble the messages it is part of.
    /// </summary>
    public const int MinimumLength = 8;

    private static readonly Lock Gate = new();

    // Longest first: a key that contains another is replaced whole, not around the shorter one.
    private static string[] _keys = [];

    /// <summary>Adds <paramref name="keys"/> to those redacted; empty and short ones are ignored.</summary>
    public static void Add(IEnumerable<string?> keys)
    {
        lock (Gate)
        {
            Volatile.Write(ref _keys, [.. _keys
                .Concat(keys.Select(k => k?.Trim()).Where(k => k is { Length: >= MinimumLength }).Cast<string>())
                .Distinct(StringComparer.Ordinal)
                .OrderByDescending(k => k.Length)]);
        }
    }

    /// <summary>
    /// <paramref name="text"/> with every known key and every quoted bearer credential replaced by
    /// <see cref="Mark"/>. Run it on the whole text before any cut: cut first, a key across the cut
    /// would keep its start.
    /// </summary>
    public static string Redact(string text)
    {
        foreach (var key in Volatile.Read(ref _keys))
        {
            text = text.Replace(key, Mark, StringComparison.Ordinal);
        }

        return Bearer().Replace(text, "${scheme}" + Mark);
    }

    // The credential of an echoed "Authorization: Bearer …" header, up to a space or a quote.
    [GeneratedRegex("""(?<scheme>\bBearer\s+)(?!\[redacted\])[^\s"',;]+""", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Bearer();
}
