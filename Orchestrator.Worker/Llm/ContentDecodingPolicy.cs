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
            || !response.Headers.TryGetValue("Content-Encoding", out var coding) || coding is null)
        {
            return;
        }

        Stream? decoded = coding.Trim().ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new GZipStream(stream, CompressionMode.Decompress),
            "deflate" => new ZLibStream(stream, CompressionMode.Decompress),
            "br" => new BrotliStream(stream, CompressionMode.Decompress),
            _ => null,
        };
        if (decoded is not null)
        {
            response.ContentStream = decoded;
        }
    }
}
