using System.Buffers;
using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// A provider's answer read a whole line at a time before the OpenAI client reads it, for what the
/// client cannot read itself:
/// <list type="bullet">
/// <item>An error event (<c>data: {"error": …}</c>, vLLM's <c>{"object": "error", …}</c>, its data on one
/// line or several, joined as the client joins them) is the call's failure, classified by its type or
/// code (<see cref="LlmFailure.FromErrorEvent"/>), once the events before it are read; it is never
/// ended for the client (its blank line is not given). An error event the body ends in fails it
/// too. OpenRouter sends its errors in a chunk that also has a choice with <c>finish_reason:
/// "error"</c>, on which the client threw, the provider's message lost and a 429 retried as
/// transient; an error beside a delta was not read at all.</item>
/// <item>The finish reasons other servers name their own way are OpenAI's: TGI's <c>eos_token</c> and
/// <c>stop_sequence</c>, Together's <c>eos</c> and Anthropic-style <c>end_turn</c> as <c>stop</c>;
/// Mistral's <c>model_length</c> and <c>max_tokens</c> as <c>length</c>. The client throws on a name it
/// does not know, which failed every answer of such a server, each retry paid again. Other unknown
/// names (<c>abort</c>) still fail the call.</item>
/// </list>
/// A line not yet ended is held back until it is (the client's reader waits for an event's end
/// anyway); a body's lines read as they came when none needs either (the common case: no copy but
/// the held line, and the data of an event a read leaves open). Only an unescaped key is read: the same words inside a text are escaped
/// (<c>\"eos_token\"</c>) and never match.
/// </summary>
internal sealed class ProviderEventStream(Stream inner) : Orchestrator.Client.ReadOnlyWrapperStream(inner)
{
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

    // The line not yet ended (pooled while it waits).
    private byte[]? _partial;
    private int _partialLength;

    // Lines rewritten, and not yet given.
    private ReadOnlyMemory<byte> _out;

    // The data of the event not yet ended (its lines given already), and whether it holds an "error".
    private ArrayBufferWriter<byte>? _event;
    private bool _eventError;

    // The error event read: thrown once the lines before it are given.
    private LlmException? _failure;
    private bool _ended;

    private static ReadOnlySpan<byte> FinishReasonKey => "\"finish_reason\""u8;

    private static ReadOnlySpan<byte> ErrorWord => "\"error\""u8;

    // Pooled, as ActivityStream's: every read of every provider's streamed answer comes through here.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (Given(buffer.Span) is { } given)
            {
                return given;
            }

            if (_partialLength >= buffer.Length)
            {
                // A line longer than the reader's buffer: read on into its own.
                LongLineRead(await Inner.ReadAsync(LongLineRoom(), cancellationToken).ConfigureAwait(false));
                continue;
            }

            var held = Restore(buffer.Span);
            var read = await Inner.ReadAsync(buffer[held..], cancellationToken).ConfigureAwait(false);
            if (Scanned(buffer.Span, held, read) is { } give)
            {
                return give;
            }
        }
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var span = buffer.AsSpan(offset, count);
        while (true)
        {
            if (Given(span) is { } given)
            {
                return given;
            }

            if (_partialLength >= count)
            {
                LongLineRead(Inner.Read(LongLineRoom().Span));
                continue;
            }

            var held = Restore(span);
            var read = Inner.Read(buffer, offset + held, count - held);
            if (Scanned(span, held, read) is { } give)
            {
                return give;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ReturnPartial();
        }

        base.Dispose(disposing);
    }

    /// <summary>What is given without reading: rewritten lines, the error event's failure, the end; null to read.</summary>
    private int? Given(Span<byte> buffer)
    {
        if (!_out.IsEmpty)
        {
            var n = Math.Min(buffer.Length, _out.Length);
            _out.Span[..n].CopyTo(buffer);
            _out = _out[n..];
            return n;
        }

        if (_failure is not null)
        {
            throw _failure;
        }

        return _ended || buffer.IsEmpty ? 0 : null;
    }

    /// <summary>Puts the held line back at the front of the reader's buffer (it fits: shorter than the buffer).</summary>
    private int Restore(Span<byte> buffer)
    {
        var held = _partialLength;
        if (held > 0)
        {
            _partial.AsSpan(0, held).CopyTo(buffer);
            ReturnPartial();
        }

        return held;
    }

    /// <summary>
    /// What one read brought after the <paramref name="held"/> line put back: the whole lines to give
    /// (read as they came, or rewritten into <see cref="_out"/>), the line not yet ended held back.
    /// </summary>
    /// <returns>The bytes to give from the buffer; null to go on (all held, or rewritten).</returns>
    private int? Scanned(Span<byte> buffer, int held, int read)
    {
        if (read == 0)
        {
            // The end: a line never ended goes as it came.
            _ended = true;
            EndOfBody(buffer[..held]);
            return held > 0 || _failure is null ? held : null;
        }

        var bytes = buffer[..(held + read)];
        var ended = bytes.LastIndexOf((byte)'\n') + 1;
        Hold(bytes[ended..]);
        if (ended == 0)
        {
            return null;
        }

        var give = ReadLines(bytes[..ended]);
        return give > 0 ? give : null;
    }

    private Memory<byte> LongLineRoom()
    {
        if (_partial!.Length - _partialLength < 4096)
        {
            var larger = ArrayPool<byte>.Shared.Rent(_partial.Length * 2);
            _partial.AsSpan(0, _partialLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_partial);
            _partial = larger;
        }

        return _partial.AsMemory(_partialLength);
    }

    private void LongLineRead(int read)
    {
        if (read == 0)
        {
            _ended = true;
            EndOfBody(_partial.AsSpan(0, _partialLength));
            _out = _partial.AsSpan(0, _partialLength).ToArray();
            ReturnPartial();
            return;
        }

        var start = _partialLength;
        _partialLength += read;
        var newline = _partial.AsSpan(start, read).LastIndexOf((byte)'\n');
        if (newline < 0)
        {
            return;
        }

        var ended = start + newline + 1;
        var lines = _partial.AsSpan(0, ended);
        var give = ReadLines(lines);
        if (give >= 0)
        {
            _out = lines[..give].ToArray();
        }

        var rest = _partial.AsSpan(ended, _partialLength - ended).ToArray();
        ReturnPartial();
        Hold(rest);
    }

    private void Hold(ReadOnlySpan<byte> line)
    {
        if (line.IsEmpty)
        {
            return;
        }

        _partial = ArrayPool<byte>.Shared.Rent(Math.Max(line.Length, 256));
        line.CopyTo(_partial);
        _partialLength = line.Length;
    }

    private void ReturnPartial()
    {
        if (_partial is not null)
        {
            ArrayPool<byte>.Shared.Return(_partial);
        }

        (_partial, _partialLength) = (null, 0);
    }

    /// <summary>
    /// Reads whole lines (<paramref name="lines"/> ends with one's end): the events that end in them
    /// (a blank line), an error event among them, the aliases. The event not ended by them is kept
    /// (<see cref="_event"/>): an event's data may span several lines, which the client joins.
    /// </summary>
    /// <returns>The bytes to give as they came; -1 when <see cref="_out"/> holds what to give (rewritten).</returns>
    private int ReadLines(ReadOnlySpan<byte> lines)
    {
        // The usual read: no event carried over, no "error", no alias. Only the event it leaves open is kept.
        if (_event is not { WrittenCount: > 0 } && lines.IndexOf(ErrorWord) < 0 && !HasAlias(lines))
        {
            KeepOpenEvent(lines);
            return lines.Length;
        }

        ArrayBufferWriter<byte>? rewritten = null;
        var at = 0;
        while (at < lines.Length)
        {
            var length = lines[at..].IndexOf((byte)'\n') + 1;
            var line = lines.Slice(at, length);
            var content = Content(line);
            if (content.IsEmpty)
            {
                if (_eventError && LlmFailure.FromErrorEvent(_event!.WrittenSpan) is { } failure)
                {
                    // The event ends here: the client never reads it, nor anything after it.
                    _failure = failure;
                    break;
                }

                ClearEvent();
            }
            else if (TryPayload(content, out var payload))
            {
                AddToEvent(payload);
                if (rewritten is null && HasAlias(line))
                {
                    rewritten = new ArrayBufferWriter<byte>(lines.Length + 16);
                    rewritten.Write(lines[..at]);
                }
            }

            if (rewritten is not null)
            {
                WriteAliased(rewritten, line);
            }

            at += length;
        }

        if (rewritten is null)
        {
            return at;
        }

        _out = rewritten.WrittenSpan.ToArray();
        return -1;
    }

    // The body ended: an error event it left open (not ended by a blank line, its last line perhaps
    // not ended either) is still the call's failure; the bytes go as they came.
    private void EndOfBody(ReadOnlySpan<byte> unended)
    {
        if (TryPayload(Content(unended), out var payload))
        {
            AddToEvent(payload);
        }

        if (_eventError && LlmFailure.FromErrorEvent(_event!.WrittenSpan) is { } failure)
        {
            _failure = failure;
        }
    }

    // The data of the event the lines leave open, when they do (the common read ends with an event's blank line).
    private void KeepOpenEvent(ReadOnlySpan<byte> lines)
    {
        if (lines.EndsWith("\n\n"u8) || lines.EndsWith("\n\r\n"u8))
        {
            return;
        }

        var (lf, crlf) = (lines.LastIndexOf("\n\n"u8), lines.LastIndexOf("\n\r\n"u8));
        var end = Math.Max(lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 3);
        for (var open = lines[end..]; !open.IsEmpty;)
        {
            var length = open.IndexOf((byte)'\n') + 1;
            if (TryPayload(Content(open[..length]), out var payload))
            {
                AddToEvent(payload);
            }

            open = open[length..];
        }
    }

    private void AddToEvent(ReadOnlySpan<byte> payload)
    {
        _event ??= new ArrayBufferWriter<byte>(256);
        _event.Write(payload);
        _event.Write("\n"u8);
        _eventError |= payload.IndexOf(ErrorWord) >= 0;
    }

    private void ClearEvent()
    {
        // A buffer grown by one large event is not kept for the stream's life.
        _event = _event is { Capacity: <= 64 * 1024 } kept ? kept : null;
        _event?.ResetWrittenCount();
        _eventError = false;
    }

    // A line without its end (\n, or \r\n).
    private static ReadOnlySpan<byte> Content(ReadOnlySpan<byte> line)
    {
        var content = line.EndsWith((byte)'\n') ? line[..^1] : line;
        return content.EndsWith((byte)'\r') ? content[..^1] : content;
    }

    // A data line's value (after "data:" and one space); false for any other line (a comment, "event:").
    private static bool TryPayload(ReadOnlySpan<byte> content, out ReadOnlySpan<byte> payload)
    {
        payload = content.StartsWith("data:"u8) ? content[5..] : default;
        if (payload.StartsWith((byte)' '))
        {
            payload = payload[1..];
        }

        return content.StartsWith("data:"u8);
    }

    // Cheap on every read: a finish reason that is not null (OpenAI's every chunk has "finish_reason":null) and an alias.
    private static bool HasAlias(ReadOnlySpan<byte> lines)
    {
        for (var at = lines.IndexOf(FinishReasonKey); at >= 0; at = NextAt(lines, at, FinishReasonKey))
        {
            if (AliasAt(lines[(at + FinishReasonKey.Length)..]) is not null)
            {
                return true;
            }
        }

        return false;
    }

    private static int NextAt(ReadOnlySpan<byte> bytes, int at, ReadOnlySpan<byte> word)
    {
        var next = bytes[(at + word.Length)..].IndexOf(word);
        return next < 0 ? -1 : at + word.Length + next;
    }

    private static void WriteAliased(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> line)
    {
        for (var at = line.IndexOf(FinishReasonKey); at >= 0; at = line.IndexOf(FinishReasonKey))
        {
            var afterKey = at + FinishReasonKey.Length;
            if (AliasAt(line[afterKey..]) is { } alias)
            {
                var (offset, length, openAi) = alias;
                output.Write(line[..(afterKey + offset + 1)]);
                output.Write(openAi);
                line = line[(afterKey + offset + 1 + length)..];
                continue;
            }

            output.Write(line[..afterKey]);
            line = line[afterKey..];
        }

        output.Write(line);
    }

    /// <summary>
    /// After a <c>"finish_reason"</c> key: where its value's opening quote is, the value's length and
    /// OpenAI's name for it, when the value is a known alias; null otherwise.
    /// </summary>
    private static (int Offset, int Length, byte[] OpenAi)? AliasAt(ReadOnlySpan<byte> afterKey)
    {
        var colon = afterKey.IndexOfAnyExcept(JsonWhitespace);
        if (colon < 0 || afterKey[colon] != (byte)':')
        {
            return null;
        }

        var quote = colon + 1 + afterKey[(colon + 1)..].IndexOfAnyExcept(JsonWhitespace);
        if (quote <= colon || afterKey[quote] != (byte)'"')
        {
            return null;
        }

        var value = afterKey[(quote + 1)..];
        var end = value.IndexOfAny((byte)'"', (byte)'\\');
        if (end < 0 || value[end] != (byte)'"')
        {
            return null;
        }

        foreach (var (name, openAi) in Aliases)
        {
            if (value[..end].SequenceEqual(name))
            {
                return (quote, end, openAi);
            }
        }

        return null;
    }
}
