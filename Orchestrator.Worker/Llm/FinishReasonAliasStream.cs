using System.Buffers;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// An answer's bytes with the finish reasons other servers name their own way read as OpenAI's:
/// TGI's <c>eos_token</c> and <c>stop_sequence</c>, Together's <c>eos</c> and Anthropic-style <c>end_turn</c> as <c>stop</c>,
/// Mistral's <c>model_length</c> and <c>max_tokens</c> as <c>length</c>. The OpenAI client throws on a
/// <c>finish_reason</c> it does not know, which failed every answer of such a server as transient,
/// each retry paid for again. No hook of the client's reads the value first, so its bytes are
/// rewritten in place, the same length (the new value, then spaces: JSON whitespace), and nothing
/// else moves. Only an unescaped <c>"finish_reason"</c> key, a colon and one of these string values
/// is touched: the same words inside a text are escaped (<c>\"eos_token\"</c>) and never match.
/// A value split between two reads is held back (at most <see cref="LongestValue"/> bytes) until
/// it is whole. A server's other unknown reasons (<c>error</c>, <c>abort</c>) still fail the call.
/// </summary>
internal sealed class FinishReasonAliasStream(Stream inner) : Orchestrator.Client.ReadOnlyWrapperStream(inner)
{
    /// <summary>The longest value rewritten, with its quotes (<c>"stop_sequence"</c>).</summary>
    internal const int LongestValue = 15;

    private static readonly (byte[] Name, byte[] As)[] Aliases =
    [
        ("eos_token"u8.ToArray(), "stop"u8.ToArray()),
        ("eos"u8.ToArray(), "stop"u8.ToArray()),
        ("stop_sequence"u8.ToArray(), "stop"u8.ToArray()),
        ("end_turn"u8.ToArray(), "stop"u8.ToArray()),
        ("model_length"u8.ToArray(), "length"u8.ToArray()),
        ("max_tokens"u8.ToArray(), "length"u8.ToArray()),
    ];

    private static readonly SearchValues<byte> JsonWhitespace = SearchValues.Create(" \t\r\n"u8);

    private readonly byte[] _held = new byte[LongestValue];
    private int _heldLength;
    private Phase _phase;
    private int _keyMatched;

    private enum Phase
    {
        // Looking for the key; _keyMatched of its bytes ended the last read.
        Key,

        // After the key: whitespace, then the colon.
        Colon,

        // After the colon: whitespace, then the value's opening quote.
        Value,
    }

    private static ReadOnlySpan<byte> KeyBytes => "\"finish_reason\""u8;

    // Pooled, as ActivityStream's: every read of every provider's streamed answer comes through here.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length <= LongestValue)
        {
            return _heldLength > 0 ? GiveHeld(buffer.Span) : Unscanned(await Inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));
        }

        while (true)
        {
            var start = Restore(buffer.Span);
            var read = await Inner.ReadAsync(buffer[start..], cancellationToken).ConfigureAwait(false);
            if (Scanned(buffer.Span, start, read) is var given and (> 0 or -1))
            {
                return Math.Max(given, 0);
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var span = buffer.AsSpan(offset, count);
        if (count <= LongestValue)
        {
            return _heldLength > 0 ? GiveHeld(span) : Unscanned(Inner.Read(buffer, offset, count));
        }

        while (true)
        {
            var start = Restore(span);
            var read = Inner.Read(buffer, offset + start, count - start);
            if (Scanned(span, start, read) is var given and (> 0 or -1))
            {
                return Math.Max(given, 0);
            }
        }
    }

    /// <summary>Rewrites what one read brought (after the <paramref name="held"/> bytes put back before it) and holds back a value not yet whole.</summary>
    /// <returns>The bytes to give; 0 when all were held back (read again); -1 at the end of the body with nothing to give.</returns>
    private int Scanned(Span<byte> buffer, int held, int read)
    {
        if (read == 0)
        {
            // The end: a value held back never closed, and goes as it came.
            return held > 0 ? held : -1;
        }

        var total = held + read;
        var give = Scan(buffer[..total]);
        buffer[give..total].CopyTo(_held);
        _heldLength = total - give;
        return give;
    }

    private int Restore(Span<byte> buffer)
    {
        var held = _heldLength;
        _held.AsSpan(0, held).CopyTo(buffer);
        _heldLength = 0;
        return held;
    }

    // A buffer too small to hold a value back in (no reader of answers uses one): the bytes go as
    // they came, and the scan starts over after them.
    private int GiveHeld(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _heldLength);
        _held.AsSpan(0, n).CopyTo(buffer);
        _held.AsSpan(n, _heldLength - n).CopyTo(_held);
        _heldLength -= n;
        (_phase, _keyMatched) = (Phase.Key, 0);
        return n;
    }

    private int Unscanned(int read)
    {
        (_phase, _keyMatched) = (Phase.Key, 0);
        return read;
    }

    /// <summary>Rewrites every whole alias in <paramref name="bytes"/>; returns where a value not yet whole begins (else their length).</summary>
    private int Scan(Span<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            switch (_phase)
            {
                case Phase.Key when _keyMatched > 0:
                    {
                        // The key began at the end of the last read.
                        var rest = KeyBytes[_keyMatched..];
                        var n = Math.Min(rest.Length, bytes.Length - i);
                        if (!bytes.Slice(i, n).SequenceEqual(rest[..n]))
                        {
                            _keyMatched = 0;
                            continue;
                        }

                        i += n;
                        _keyMatched += n;
                        if (_keyMatched == KeyBytes.Length)
                        {
                            (_phase, _keyMatched) = (Phase.Colon, 0);
                        }

                        continue;
                    }

                case Phase.Key:
                    {
                        var at = bytes[i..].IndexOf(KeyBytes);
                        if (at < 0)
                        {
                            _keyMatched = KeyBegunAtEnd(bytes[i..]);
                            return bytes.Length;
                        }

                        i += at + KeyBytes.Length;
                        _phase = Phase.Colon;
                        continue;
                    }

                case Phase.Colon:
                    i = SkipWhitespace(bytes, i);
                    if (i < bytes.Length)
                    {
                        _phase = bytes[i] == (byte)':' ? Phase.Value : Phase.Key;
                        i += _phase == Phase.Value ? 1 : 0;
                    }

                    continue;

                default:
                    {
                        i = SkipWhitespace(bytes, i);
                        if (i == bytes.Length)
                        {
                            continue;
                        }

                        if (bytes[i] != (byte)'"')
                        {
                            // null, or no string: nothing to read as another name.
                            _phase = Phase.Key;
                            continue;
                        }

                        var after = bytes[(i + 1)..];
                        var window = after[..Math.Min(after.Length, LongestValue - 1)];
                        var end = window.IndexOfAny((byte)'"', (byte)'\\');
                        if (end < 0)
                        {
                            if (window.Length < LongestValue - 1)
                            {
                                // Not whole yet: held back from its opening quote, read again with what follows.
                                return i;
                            }

                            end = window.Length - 1;
                        }
                        else if (after[end] == (byte)'"')
                        {
                            Rewrite(bytes.Slice(i, end + 2));
                        }

                        i += end + 1;
                        _phase = Phase.Key;
                        continue;
                    }
            }
        }

        return bytes.Length;
    }

    /// <summary>Writes OpenAI's name over a known alias (<c>"eos_token"</c> becomes <c>"stop"</c> and five spaces).</summary>
    private static void Rewrite(Span<byte> quoted)
    {
        var name = quoted[1..^1];
        foreach (var (alias, openAi) in Aliases)
        {
            if (name.SequenceEqual(alias))
            {
                openAi.CopyTo(quoted[1..]);
                quoted[openAi.Length + 1] = (byte)'"';
                quoted[(openAi.Length + 2)..].Fill((byte)' ');
                return;
            }
        }
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> bytes, int i)
    {
        var skipped = bytes[i..].IndexOfAnyExcept(JsonWhitespace);
        return skipped < 0 ? bytes.Length : i + skipped;
    }

    /// <summary>How many of the key's first bytes <paramref name="bytes"/> ends with (fewer than all).</summary>
    private static int KeyBegunAtEnd(ReadOnlySpan<byte> bytes)
    {
        for (var n = Math.Min(KeyBytes.Length - 1, bytes.Length); n > 0; n--)
        {
            if (bytes[^n..].SequenceEqual(KeyBytes[..n]))
            {
                return n;
            }
        }

        return 0;
    }
}
