using System.ClientModel.Primitives;
using System.IO.Compression;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// Decodes a provider's body sent with a <c>Content-Encoding</c> (<c>gzip</c>, <c>deflate</c>, <c>br</c>)
/// though the worker asks for none, innermost in each provider client's pipeline, so that
/// <see cref="BoundedBodyPolicy"/> bounds the decoded bytes (a small compressed body cannot grow
/// past the bound). A proxy that compresses regardless made every answer unreadable: each failed as
/// <c>transient</c> after the provider was paid, five times, then dead-lettered. Not
/// <c>AutomaticDecompression</c>, which asks for compression (<c>Accept-Encoding</c>) and so would
/// have every server compress, and a compressing proxy may hold a stream's events back to fill its blocks.
/// </summary>
internal sealed class ContentDecodingPolicy : ResponsePolicy
{
    /// <inheritdoc />
    protected override void OnResponse(PipelineMessage message)
    {
        if (message.Response is not { ContentStream: { } stream } response
            || !response.Headers.TryGetValue("Content-Encoding", out var header) || header is null)
        {
            return;
        }

        // Codings are listed in the order applied (RFC 9110 §8.4): undone from the last.
        var codings = header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var decoded = stream;
        for (var i = codings.Length - 1; i >= 0; i--)
        {
            decoded = codings[i].ToUpperInvariant() switch
            {
                "GZIP" or "X-GZIP" => new GZipStream(decoded, CompressionMode.Decompress),
                "DEFLATE" => new ZLibStream(decoded, CompressionMode.Decompress),
                "BR" => new BrotliStream(decoded, CompressionMode.Decompress),
                _ => decoded, // identity, or one no server sends unasked: read as it came
            };
        }

        if (!ReferenceEquals(decoded, stream))
        {
            response.ContentStream = decoded;
        }
    }
}
