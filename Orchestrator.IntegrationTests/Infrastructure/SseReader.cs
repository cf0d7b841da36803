using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>One Server-Sent Event of <c>GET /jobs/{id}/events</c>.</summary>
internal sealed record SseEvent(string Id, string Type, JsonNode Data)
{
    /// <summary>"id type status" (a delta's text for its status), for comparing a stream at a glance.</summary>
    public string Brief => $"{Id} {Type} {Data["status"]?.GetValue<string>() ?? Data["text"]?.GetValue<string>()}";
}

/// <summary>
/// Reads <c>GET /jobs/{id}/events</c> one event at a time, so that a test can read part of a live
/// stream, act on the job, and read on. Every read is bounded by <see cref="ApiFactory.RequestTimeout"/>.
/// </summary>
internal sealed class SseReader : IDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseReader(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    /// <summary>Opens the stream; the response must be 200 <c>text/event-stream</c>.</summary>
    public static async Task<SseReader> OpenAsync(HttpClient client, string jobId, string? lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{jobId}/events");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        return new SseReader(response, new StreamReader(body, Encoding.UTF8));
    }

    /// <summary>The next event; null when the stream ended.</summary>
    public async Task<SseEvent?> NextAsync()
    {
        string? id = null, type = null, data = null;
        while (await _reader.ReadLineAsync(TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    Assert.NotNull(id);
                    return new SseEvent(id, type ?? "message", JsonNode.Parse(data)!);
                }

                (id, type, data) = (null, null, null);
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
        }

        return null;
    }

    /// <summary>The next <paramref name="count"/> events, fewer when the stream ends first.</summary>
    public async Task<List<SseEvent>> NextAsync(int count)
    {
        var events = new List<SseEvent>();
        while (events.Count < count && await NextAsync() is { } e)
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>Every event to the stream's end (after 'done').</summary>
    public Task<List<SseEvent>> ToEndAsync() => NextAsync(int.MaxValue);

    public void Dispose()
    {
        _reader.Dispose();
        _response.Dispose();
    }
}
