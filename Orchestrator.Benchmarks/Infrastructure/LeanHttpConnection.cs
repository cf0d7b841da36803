using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// One keep-alive HTTP/1.1 connection that sends a pre-encoded request and reads one response at
/// a time: the status line, the headers (only Content-Length and Connection are read) and the
/// body. The load generator shares the cores with the API and Redis; HttpClient spends several
/// times the CPU per request that this does, and that time was taken from the API being measured.
/// Real HTTP over real TCP all the same: Kestrel cannot tell it from any other client.
/// </summary>
internal sealed class LeanHttpConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private LeanHttpConnection(Socket socket) => _socket = socket;

    public static async Task<LeanHttpConnection> OpenAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            return new LeanHttpConnection(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="request"/> (a whole HTTP/1.1 request) and answers the response's status code.</summary>
    public async Task<int> SendAsync(ReadOnlyMemory<byte> request)
    {
        while (!request.IsEmpty)
        {
            var sent = await _socket.SendAsync(request, SocketFlags.None);
            request = request[sent..];
        }

        // Status line and headers, up to the blank line.
        int headerEnd;
        while ((headerEnd = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n\r\n"u8)) < 0)
        {
            await FillAsync();
        }

        var head = _buffer.AsSpan(_start, headerEnd);
        var bodyStart = _start + headerEnd + 4;
        // "HTTP/1.1 202 Accepted"
        if (head.Length < 12 || !head.StartsWith("HTTP/1.1 "u8) || !Utf8Parser.TryParse(head.Slice(9, 3), out int status, out _))
        {
            throw new InvalidDataException($"Not an HTTP/1.1 status line: '{System.Text.Encoding.ASCII.GetString(head[..Math.Min(head.Length, 80)])}'.");
        }

        var contentLength = -1;
        var chunked = false;
        var close = false;
        foreach (var range in head.Split("\r\n"u8))
        {
            var line = head[range];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (System.Text.Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
            {
                if (!Utf8Parser.TryParse(value, out contentLength, out var consumed) || consumed != value.Length)
                {
                    throw new InvalidDataException("Unreadable Content-Length.");
                }
            }
            else if (System.Text.Ascii.EqualsIgnoreCase(name, "Connection"u8) && System.Text.Ascii.EqualsIgnoreCase(value, "close"u8))
            {
                close = true;
            }
            else if (System.Text.Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8) && System.Text.Ascii.EqualsIgnoreCase(value, "chunked"u8))
            {
                chunked = true;
            }
        }

        // The body is read and discarded: exactly Content-Length bytes, or chunk by chunk.
        _start = bodyStart;
        if (chunked)
        {
            await SkipChunkedBodyAsync();
        }
        else if (contentLength >= 0)
        {
            await SkipAsync(contentLength);
        }
        else
        {
            throw new InvalidDataException("The response has neither Content-Length nor chunked encoding.");
        }

        if (close)
        {
            throw new InvalidDataException($"The server closed the connection (status {status}).");
        }

        return status;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task SkipAsync(int count)
    {
        while (true)
        {
            var available = Math.Min(count, _end - _start);
            _start += available;
            count -= available;
            if (count == 0)
            {
                return;
            }

            await FillAsync();
        }
    }

    /// <summary>Chunks ("size-in-hex[;ext]\r\ndata\r\n"), then the last chunk "0\r\n", trailers and a blank line.</summary>
    private async Task SkipChunkedBodyAsync()
    {
        while (true)
        {
            var line = await ReadLineAsync();
            var semicolon = line.IndexOf(';');
            var sizeText = (semicolon < 0 ? line : line[..semicolon]).Trim();
            if (!int.TryParse(sizeText, System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                throw new InvalidDataException($"Unreadable chunk size '{line}'.");
            }

            if (size == 0)
            {
                while ((await ReadLineAsync()).Length > 0)
                {
                    // Trailers: none expected, skipped.
                }

                return;
            }

            await SkipAsync(size + 2); // The data and its CRLF.
        }
    }

    private async Task<string> ReadLineAsync()
    {
        int end;
        while ((end = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
        {
            await FillAsync();
        }

        var line = System.Text.Encoding.ASCII.GetString(_buffer, _start, end);
        _start += end + 2;
        return line;
    }

    private async Task FillAsync()
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                throw new InvalidDataException("Response headers larger than the client's buffer.");
            }

            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None);
        if (read == 0)
        {
            throw new InvalidDataException("The server closed the connection mid-response.");
        }

        _end += read;
    }
}
