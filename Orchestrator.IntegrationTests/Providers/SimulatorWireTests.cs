using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// The <c>Orchestrator.LlmSimulator</c> service (a real process) answers the fields a client relies
/// on as OpenAI does: <c>finish_reason</c> <c>length</c> for an answer cut at the request's
/// <c>max_tokens</c> or <c>max_completion_tokens</c>, <c>stop</c> otherwise, plain and streamed;
/// a bound below 1 in either field is a 400 naming it.
/// </summary>
public sealed class SimulatorWireTests
{
    [Fact]
    public async Task FinishReason_LengthWhenCutAtTheRequestsLimit_StopOtherwise()
    {
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00",
        });
        using var http = new HttpClient { BaseAddress = simulator.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        foreach (var (field, limit, stream, expected) in new (string?, int, bool, string)[]
        {
            ("max_tokens", 5, false, "length"),
            ("max_completion_tokens", 5, false, "length"),
            ("max_tokens", 5, true, "length"),
            ("max_completion_tokens", 5, true, "length"),
            ("max_tokens", 1_000, false, "stop"),
            (null, 0, true, "stop"),
        })
        {
            var request = new JsonObject { ["model"] = "simulated-llm", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "What is a lease?" }) };
            if (field is not null)
            {
                request[field] = limit;
            }

            if (stream)
            {
                request["stream"] = true;
            }

            using var response = await PostAsync(http, request);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
            var reasons = stream
                ? body.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
                    .SelectMany(l => JsonNode.Parse(l["data: ".Length..])!["choices"]!.AsArray())
                    .Select(c => c!["finish_reason"]?.GetValue<string>()).OfType<string>().ToList()
                : [JsonNode.Parse(body)!["choices"]![0]!["finish_reason"]!.GetValue<string>()];
            Assert.True(reasons.SequenceEqual([expected]), $"{field}={limit}, stream {stream}: finish_reason {string.Join(",", reasons)}, expected {expected}");
        }
    }

    [Theory]
    [InlineData("max_tokens", 0)]
    [InlineData("max_completion_tokens", 0)]
    [InlineData("max_tokens", -1)]
    public async Task MaxTokensBelowOne_Refused400NamingTheField(string field, int value)
    {
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00",
        });
        using var http = new HttpClient { BaseAddress = simulator.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        var request = new JsonObject
        {
            ["model"] = "simulated-llm",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "What is a lease?" }),
            [field] = value,
        };

        using var response = await PostAsync(http, request);

        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        var error = JsonNode.Parse(body)!["error"]!;
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(field, error["param"]!.GetValue<string>());
        Assert.Contains($"'{field}'", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, JsonObject request) =>
        http.PostAsync("v1/chat/completions", new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
}
