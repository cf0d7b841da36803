using System.Text;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// One generated request: a method and path, raw body bytes, a content type, and headers added
/// without validation. Drawn from a seeded <see cref="Random"/> over families of malformation
/// (<see cref="SubmitFuzzCases"/>), or aimed at one operation (<see cref="EndpointFuzzCases"/>):
/// <see cref="Family"/> names the family or the operation.
/// </summary>
internal sealed record FuzzCase(string Family, HttpMethod Method, string Path, byte[]? Body, string? ContentType, (string Name, string Value)[] Headers)
{
    public bool IsSubmit => Method == HttpMethod.Post && Path == "/jobs";

    /// <summary>
    /// Why no success (2xx) may answer this case ("no valid key", "another tenant's job", …), or
    /// null when one may.
    /// </summary>
    public string? NoSuccessBecause { get; init; }

    public string Describe()
    {
        var body = Body is null ? "no body" : Body.Length > 120
            ? $"{Body.Length} bytes: {Escape(Body.AsSpan(0, 120))}…"
            : $"{Body.Length} bytes: {Escape(Body)}";
        var headers = string.Join("; ", Headers.Select(h => $"{h.Name}: {(h.Value.Length > 40 ? h.Value[..40] + $"…({h.Value.Length})" : h.Value)}"));
        var because = NoSuccessBecause is null ? "" : $" ({NoSuccessBecause})";
        return $"[{Family}{because}] {Method} {(Path.Length > 200 ? Path[..200] + $"…({Path.Length})" : Path)} ({ContentType ?? "no content type"}; {headers}) {body}";
    }

    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(Method, Path);
        if (Body is not null)
        {
            var content = new ByteArrayContent(Body);
            if (ContentType is not null)
            {
                content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
            }

            request.Content = content;
        }

        foreach (var (name, value) in Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    private static string Escape(ReadOnlySpan<byte> bytes)
    {
        var builder = new StringBuilder();
        foreach (var b in bytes)
        {
            builder.Append(b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:X2}");
        }

        return builder.ToString();
    }
}
