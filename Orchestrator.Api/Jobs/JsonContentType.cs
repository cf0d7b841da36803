using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Net.Http.Headers;

namespace Orchestrator.Api.Jobs;

/// <summary>The Content-Type of a JSON request body: <c>application/json</c> or <c>application/*+json</c>, in UTF-8.</summary>
internal static class JsonContentType
{
    /// <summary>The title of every 415 problem: the endpoints' own and routing's (which would be "Unsupported Media Type").</summary>
    public const string RefusedTitle = "Unsupported media type";

    /// <summary>
    /// Whether <paramref name="contentType"/> is JSON with no charset or <c>utf-8</c> (quoted or not,
    /// any case: RFC 9110 §8.3.2 and §5.6.6); JSON between systems is UTF-8 (RFC 8259 §8.1).
    /// </summary>
    public static bool IsUtf8Json(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType.Value is not { } type)
        {
            return false;
        }

        if (media.Charset.HasValue && !HeaderUtilities.RemoveQuotes(media.Charset).Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// What both endpoints that read a JSON body (<c>POST /jobs</c>, the filtered redrive) check before
    /// the read, in this order: its type and charset, then its coding, each a 415 whose detail this
    /// returns (<paramref name="notJson"/> for the first); null when it may be read, and then
    /// <c>Api:MaxRequestBodySize</c> is set for the read. One sequence for both: a check written into one
    /// reader alone was missed by the other (the redrive once read a body of any size).
    /// </summary>
    public static string? RefuseBody(HttpContext context, ApiOptions options, string notJson)
    {
        if (!IsUtf8Json(context.Request.ContentType))
        {
            return notJson;
        }

        if (RefuseCoding(context) is { } coding)
        {
            return coding;
        }

        RequestBodyLimit.Apply(context, options);
        return null;
    }

    /// <summary>Parses a JSON body read by <see cref="ReadBodyAsync"/>.</summary>
    public delegate TResult BodyParser<in TState, out TResult>(ReadOnlySpan<byte> body, TState state);

    /// <summary>
    /// Reads the whole body that <see cref="RefuseBody"/> let through, as both endpoints do, and parses
    /// it with <paramref name="parse"/>; <paramref name="tooLarge"/> past <c>Api:MaxRequestBodySize</c>.
    /// A UTF-8 byte order mark at its start is not handed on: RFC 8259 §8.1 lets a parser ignore it,
    /// and some tools (PowerShell's, Windows editors') write one; the serializer read from a span
    /// refused it as "not valid JSON" ('0xEF' is an invalid start of a value).
    /// </summary>
    public static async Task<TResult> ReadBodyAsync<TState, TResult>(
        HttpContext context, ApiOptions options, TState state, BodyParser<TState, TResult> parse, Func<ApiOptions, TResult> tooLarge,
        CancellationToken cancellationToken)
    {
        PipeReader pipe = context.Request.BodyReader;
        ReadResult read;
        // The whole body within Api:RequestBodyTimeout. Its deadline ends a pending read through the
        // pipe (the read returns, canceled, and is advanced past as any other), not by a token, which
        // throws out of Kestrel's body reader mid-read (dotnet/aspnetcore#17840). A client that goes
        // away ends the read itself, as the end of the body.
        using var deadline = new CancellationTokenSource(options.RequestBodyTimeout, context.RequestServices.GetRequiredService<TimeProvider>());
        using var onDeadline = deadline.Token.UnsafeRegister(static p => ((PipeReader)p!).CancelPendingRead(), pipe);
        try
        {
            // The length check bounds hosts without that feature (TestServer).
            while (!(read = await pipe.ReadAsync(CancellationToken.None)).IsCompleted && !read.IsCanceled && read.Buffer.Length <= options.MaxRequestBodySize)
            {
                pipe.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return tooLarge(options);
        }
        // Kestrel's chunked reader throws a bare IOException for a chunk size past 32 bits ("Bad chunk
        // size data"), where every other malformed chunk is its BadHttpRequestException (an IOException
        // too, whose status, a 408 for a stalled body, stands): a client's mistake, answered 500 with a
        // stack in the log. A reset connection is no such mistake.
        catch (IOException e) when (e is not BadHttpRequestException and not Microsoft.AspNetCore.Connections.ConnectionResetException
            && !context.RequestAborted.IsCancellationRequested)
        {
            throw new BadHttpRequestException($"The request body is malformed: {e.Message}", StatusCodes.Status400BadRequest, e);
        }

        if (read.IsCanceled && !read.IsCompleted)
        {
            pipe.AdvanceTo(read.Buffer.End);
            cancellationToken.ThrowIfCancellationRequested();
            throw new BadHttpRequestException(
                $"The request body did not arrive within {options.RequestBodyTimeout.TotalSeconds:0.###} s (Api:RequestBodyTimeout).", StatusCodes.Status408RequestTimeout);
        }

        try
        {
            if (read.Buffer.Length > options.MaxRequestBodySize)
            {
                return tooLarge(options);
            }

            var sequence = read.Buffer;
            ReadOnlySpan<byte> body = sequence.IsSingleSegment ? sequence.FirstSpan : sequence.ToArray();
            return parse(body.StartsWith(Utf8Bom) ? body[Utf8Bom.Length..] : body, state);
        }
        finally
        {
            pipe.AdvanceTo(read.Buffer.End);
        }
    }

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>
    /// The detail of a 415 for a body sent with a content coding (<c>Content-Encoding: gzip</c>, …), or
    /// null for one sent as it is (no coding, or <c>identity</c>). Bodies are not decoded here: read as
    /// they came, a compressed body was refused as not UTF-8 and a plain one labelled gzip was taken.
    /// Such a refusal says, in <c>Accept-Encoding</c>, that only an unencoded body is taken (RFC 9110 §15.5.16).
    /// </summary>
    private static string? RefuseCoding(HttpContext context)
    {
        var codings = context.Request.Headers.ContentEncoding;
        if (codings.Count == 0 || codings.All(coding => coding is not null && coding.Trim().Equals("identity", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        context.Response.Headers.AcceptEncoding = "identity";
        return $"Content-Encoding '{codings}' is not accepted: send the body as it is, without a content coding.";
    }
}
