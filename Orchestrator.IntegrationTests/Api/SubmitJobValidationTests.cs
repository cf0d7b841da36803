using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Every way a <c>POST /jobs</c> can be wrong answers a 4xx <c>application/problem+json</c> that
/// names what to fix, and records nothing.
/// </summary>
public sealed class SubmitJobValidationTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    private const string ModelNameError = """{"model":["model must not be blank, begin or end with whitespace, or contain control or format characters."]}""";

    private const string ValidBody = """{"prompt":"hello"}""";

    private static readonly Dictionary<string, BadSubmission> Cases = BuildCases();

    public static TheoryData<string> CaseNames => new(Cases.Keys);

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task Submit_BadInput_Returns4xxProblemNamingTheField(string caseName)
    {
        var bad = Cases[caseName];
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, bad.Content(), bad.Headers);

        await ProblemAssert.IsProblemNamingAsync(response, bad.Status, bad.Mention);
        Assert.Null(response.Headers.Location);
        // Nothing queued: no job waits in any ready set.
        Assert.Equal(0, (long)await api.Redis.GetDatabase().HashGetAsync(new RedisKeys().DispatchState, "ready").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    /// <summary>
    /// The exact errors, wording included: a client that reads them (or a person) sees every bad
    /// field at once, with the value found where one is out of range.
    /// </summary>
    [Theory]
    [InlineData("""{"prompt":"ok","maxTokens":0}""", """{"maxTokens":["maxTokens must be from 1 to 1,000,000; got 0."]}""")]
    [InlineData("""{"prompt":"ok","maxTokens":5.0}""", """{"maxTokens":["maxTokens must be an integer from 1 to 1,000,000."]}""")]
    [InlineData("""{"prompt":"a","prompt":"b"}""", """{"prompt":["The property appears more than once."]}""")]
    // Names are read in any case: one field written in two cases is named twice.
    [InlineData("""{"prompt":"a","PROMPT":"b"}""", """{"prompt":["The property appears more than once."]}""")]
    [InlineData("""{"prompt":"ok","maxTokens":5,"MaxTokens":7}""", """{"maxTokens":["The property appears more than once."]}""")]
    [InlineData("""{"prompt":"ok","Priority":"urgent"}""", """{"priority":["priority must be high, normal or low."]}""")]
    [InlineData("""{"prompt":"ok","MAXTOKENS":"not a number"}""", """{"maxTokens":["maxTokens must be an integer from 1 to 1,000,000."]}""")]
    [InlineData("""{"prompt":null}""", """{"prompt":["prompt must be a string, not null."]}""")]
    [InlineData("""{"prompt":"ok","priority":"urgent"}""", """{"priority":["priority must be high, normal or low."]}""")]
    [InlineData("""{"model":"m"}""", """{"prompt":["prompt is required."]}""")]
    [InlineData("""{"temperature":true}""", """{"temperature":["temperature must be a number from 0 to 2."],"prompt":["prompt is required."]}""")]
    [InlineData("""{"model":"\ud800","prompt":"\ud800"}""",
        """{"model":["model contains an invalid Unicode escape (a lone surrogate)."],"prompt":["prompt contains an invalid Unicode escape (a lone surrogate)."]}""")]
    [InlineData("""{"prompt":"ok","callbackUrl":"\ud800","fallbackModels":["m","\udc00"],"priority":"\ud800"}""",
        """{"callbackUrl":["callbackUrl contains an invalid Unicode escape (a lone surrogate)."],"fallbackModels":["fallbackModels contains an invalid Unicode escape (a lone surrogate)."],"priority":["priority contains an invalid Unicode escape (a lone surrogate)."]}""")]
    [InlineData("""{"prompt":"ok","model":7}""", """{"model":["model must be a string or null."]}""")]
    // Served as any name where no provider is configured, these were stored as the job's model (an outside audit).
    [InlineData("""{"prompt":"ok","model":""}""", ModelNameError)]
    [InlineData("""{"prompt":"ok","model":" simulated-llm "}""", ModelNameError)]
    [InlineData("""{"prompt":"ok","model":"a\tb"}""", ModelNameError)]
    [InlineData("""{"prompt":"ok","model":"sim\u0000"}""", ModelNameError)]
    [InlineData("""{"prompt":"ok","model":"\u200fsim"}""", ModelNameError)]
    [InlineData("""{"prompt":"ok","fallbackModels":["sim "]}""",
        """{"fallbackModels":["fallbackModels must be an array of model names (1 to 200 characters each, no whitespace at either end, no control or format characters)."]}""")]
    [InlineData("""{"prompt":7,"maxTokens":-1,"metadata":{"":{}}}""",
        """{"prompt":["prompt must be a string, not a number."],"metadata":["metadata keys must be 1 to 64 characters of valid Unicode."],"maxTokens":["maxTokens must be from 1 to 1,000,000; got -1."]}""")]
    // A field out of its range hid every error of the fields checked after it (an outside audit).
    [InlineData("""{"prompt":"ok","temperature":3,"model":" m","priority":"urgent","metadata":{"":"v"}}""",
        """{"temperature":["temperature must be a number from 0 to 2."],"model":["model must not be blank, begin or end with whitespace, or contain control or format characters."],"priority":["priority must be high, normal or low."],"metadata":["metadata keys must be 1 to 64 characters of valid Unicode."]}""")]
    [InlineData("""{"prompt":"ok","maxTokens":0,"model":" m"}""",
        """{"maxTokens":["maxTokens must be from 1 to 1,000,000; got 0."],"model":["model must not be blank, begin or end with whitespace, or contain control or format characters."]}""")]
    public async Task Submit_BadFields_AreAllNamedWithTheirExactErrors(string body, string errors)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        var expected = JsonNode.Parse(errors)!.AsObject();
        var actual = problem["errors"]!.AsObject();
        Assert.Equal(expected.Select(e => e.Key).Order(), actual.Select(e => e.Key).Order());
        foreach (var (field, messages) in expected)
        {
            Assert.Equal(messages!.ToJsonString(), actual[field]!.ToJsonString());
            // The detail says it too, each message naming its field.
            foreach (var message in messages!.AsArray().Select(m => m!.GetValue<string>()))
            {
                Assert.Contains(message.StartsWith(field, StringComparison.OrdinalIgnoreCase) ? message : $"{field}: {message}",
                    problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
            }
        }
    }

    /// <summary>
    /// Metadata past its bound is refused whole, whatever its entries hold. Its bad entries were
    /// refused one by one, each a parse of the whole body: a cost growing with the square of their
    /// number (an outside audit: 8,000 of them, 80 KB, took 4.25 s, and 16,000 kept the API busy 18 s
    /// after its client gave up). This fixture's 8 KB bound holds 600, each named in the answer before.
    /// </summary>
    [Fact]
    public async Task Submit_HundredsOfBadMetadataEntries_AreRefusedAsTooMany_AtOnce()
    {
        var entries = string.Join(',', Enumerable.Range(0, 600).Select(i => $"\"k{i}\":{i}"));
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("{\"prompt\":7,\"metadata\":{" + entries + "}}"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal(
            """{"metadata":["metadata has more than 32 entries."],"prompt":["prompt must be a string, not a number."]}""",
            problem["errors"]!.ToJsonString());
    }

    [Fact]
    public async Task Submit_FieldsInAnotherCase_AreReadAsTheirFields()
    {
        // A .NET client serialising its record without a camelCase policy sends PascalCase names.
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(
            """{"Prompt":"hello","MaxTokens":7,"Priority":"high","Metadata":{"Team":"docs"}}"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["jobId"]!.GetValue<string>();
        using var get = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
        var job = JsonNode.Parse(await get.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        Assert.Equal("hello", job["prompt"]!.GetValue<string>());
        Assert.Equal(7, job["maxTokens"]!.GetValue<int>());
        Assert.Equal("high", job["priority"]!.GetValue<string>());
        // Metadata keys are the client's data: kept as written.
        Assert.Equal("docs", job["metadata"]!["Team"]!.GetValue<string>());
    }

    [Fact]
    public async Task Submit_BodyExactlyAtSizeLimit_IsNotRejectedForSize()
    {
        // The limit is inclusive: a body of exactly Api:MaxRequestBodySize bytes is read and validated.
        var body = Pad("""{"prompt":"hello"}""", ApiFactory.MaxRequestBodySize);
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Bytes(body));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Submit_PromptExactlyAtLengthLimit_Returns202()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"{{new string('p', ApiFactory.MaxPromptLength)}}"}"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Submit_PromptOfEmojiAtLengthLimit_Returns202()
    {
        // Limits count characters (Unicode scalar values): an emoji is one, though it is two UTF-16 code units.
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"{{string.Concat(Enumerable.Repeat("😀", ApiFactory.MaxPromptLength))}}"}"""));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private static Dictionary<string, BadSubmission> BuildCases()
    {
        var cases = new Dictionary<string, BadSubmission>(StringComparer.Ordinal);
        void Json(string name, string json, string mention, HttpStatusCode status = HttpStatusCode.BadRequest) =>
            cases.Add(name, new BadSubmission(() => ApiFactory.Json(json), status, mention));
        void Raw(string name, byte[] body, string? contentType, string mention, HttpStatusCode status) =>
            cases.Add(name, new BadSubmission(() => ApiFactory.Bytes(body, contentType), status, mention));
        void Key(string name, string mention, params (string, string)[] headers) =>
            cases.Add(name, new BadSubmission(() => ApiFactory.Json(ValidBody), HttpStatusCode.BadRequest, mention, headers));

        // The body as a whole.
        Json("empty body", "", "body");
        Json("whitespace body", " \r\n\t ", "body");
        Json("not JSON", "prompt=hello", "JSON");
        Json("truncated JSON", """{"prompt":"hello" """, "JSON");
        Json("root array", """[{"prompt":"hello"}]""", "JSON object");
        Json("root string", "\"hello\"", "JSON object");
        Json("root number", "42", "JSON object");
        Json("root null", "null", "JSON object");
        Json("nested 100 levels in metadata", """{"prompt":"hello","metadata":""" + Nested(100) + "}", "nested");
        Json("nested 100 levels at root", new string('[', 100) + new string(']', 100), "nested");
        Raw("invalid UTF-8", [.. """{"prompt":"caf"""u8, 0xC3, 0x28, .. "\"}"u8], "application/json", "UTF-8", HttpStatusCode.BadRequest);
        Raw("over size limit", Pad(ValidBody, ApiFactory.MaxRequestBodySize + 1), "application/json", "MaxRequestBodySize",
            HttpStatusCode.RequestEntityTooLarge);
        cases.Add("over size limit, chunked", new BadSubmission(
            () => new UnknownLengthContent(Pad(ValidBody, ApiFactory.MaxRequestBodySize * 3)), HttpStatusCode.RequestEntityTooLarge,
            "MaxRequestBodySize"));
        Raw("text/plain", Encoding.UTF8.GetBytes(ValidBody), "text/plain", "Content-Type", HttpStatusCode.UnsupportedMediaType);
        Raw("application/xml", Encoding.UTF8.GetBytes(ValidBody), "application/xml", "Content-Type", HttpStatusCode.UnsupportedMediaType);
        Raw("no content type", Encoding.UTF8.GetBytes(ValidBody), null, "Content-Type", HttpStatusCode.UnsupportedMediaType);

        // prompt
        Json("missing prompt", """{"model":"m"}""", "prompt");
        Json("empty prompt", """{"prompt":""}""", "prompt");
        Json("blank prompt", """{"prompt":" \t\n "}""", "prompt");
        Json("prompt number", """{"prompt":42}""", "prompt");
        Json("prompt object", """{"prompt":{"text":"hello"}}""", "prompt");
        Json("prompt null", """{"prompt":null}""", "prompt");
        Json("prompt array", """{"prompt":["hello"]}""", "prompt");
        Json("prompt boolean", """{"prompt":true}""", "prompt");
        Json("prompt lone surrogate", """{"prompt":"\ud800"}""", "prompt");
        Json("prompt twice", """{"prompt":"a","prompt":"b"}""", "prompt");
        Json("prompt over MaxPromptLength", $$"""{"prompt":"{{new string('p', ApiFactory.MaxPromptLength + 1)}}"}""", "prompt");

        Json("prompt over MaxPromptLength in emoji", $$"""{"prompt":"{{string.Concat(Enumerable.Repeat("😀", ApiFactory.MaxPromptLength + 1))}}"}""", "prompt");

        // model
        Json("model over 200 chars", $$"""{"prompt":"hello","model":"{{new string('m', 201)}}"}""", "model");
        Json("model number", """{"prompt":"hello","model":7}""", "model");

        // maxTokens
        Json("maxTokens 0", """{"prompt":"hello","maxTokens":0}""", "maxTokens");
        Json("maxTokens -1", """{"prompt":"hello","maxTokens":-1}""", "maxTokens");
        Json("maxTokens 1000001", """{"prompt":"hello","maxTokens":1000001}""", "maxTokens");
        Json("maxTokens 1.5", """{"prompt":"hello","maxTokens":1.5}""", "maxTokens");
        Json("maxTokens string", """{"prompt":"hello","maxTokens":"10"}""", "maxTokens");
        Json("maxTokens beyond int", """{"prompt":"hello","maxTokens":99999999999999999999}""", "maxTokens");

        // temperature
        Json("temperature -0.1", """{"prompt":"hello","temperature":-0.1}""", "temperature");
        Json("temperature 2.1", """{"prompt":"hello","temperature":2.1}""", "temperature");
        Json("temperature string", """{"prompt":"hello","temperature":"hot"}""", "temperature");
        Json("temperature 1e400", """{"prompt":"hello","temperature":1e400}""", "temperature");

        // metadata
        Json("metadata string", """{"prompt":"hello","metadata":"tag"}""", "metadata");
        Json("metadata array", """{"prompt":"hello","metadata":["tag"]}""", "metadata");
        Json("metadata 33 entries", """{"prompt":"hello","metadata":{""" +
            string.Join(',', Enumerable.Range(0, 33).Select(i => $"\"k{i}\":\"v\"")) + "}}", "metadata");
        Json("metadata key 65 chars", $$$"""{"prompt":"hello","metadata":{"{{{new string('k', 65)}}}":"v"}}""", "metadata");
        Json("metadata empty key", """{"prompt":"hello","metadata":{"":"v"}}""", "metadata");
        Json("metadata value 1025 chars", $$$"""{"prompt":"hello","metadata":{"k":"{{{new string('v', 1025)}}}"}}""", "metadata");
        Json("metadata over Api:MaxMetadataBytes", """{"prompt":"hello","metadata":{""" +
            string.Join(',', Enumerable.Range(0, 3).Select(i => $"\"k{i}\":\"{new string('v', 1000)}\"")) + "}}", "metadata");
        // 800 bytes of UTF-8, 2,409 stored: what is stored counts.
        Json("metadata non-ASCII over Api:MaxMetadataBytes as stored", $$$"""{"prompt":"hello","metadata":{"k":"{{{new string('é', 400)}}}"}}""", "metadata");
        Json("metadata value number", """{"prompt":"hello","metadata":{"k":1}}""", "metadata");
        Json("metadata value null", """{"prompt":"hello","metadata":{"k":null}}""", "metadata");
        Json("metadata value object", """{"prompt":"hello","metadata":{"k":{"v":"1"}}}""", "metadata");

        // The idempotency key (with a valid body: the key alone is wrong).
        // An empty key is in SubmitJobOverTheWireTests: HttpClient drops an empty header value.
        Key("idempotency key 256 chars", "idempotency", ("x-idempotency-key", new string('k', 256)));
        Key("idempotency key non-ASCII", "idempotency", ("Idempotency-Key", "clé-1"));
        Key("idempotency key control char", "idempotency", ("x-idempotency-key", "key\u0001one"));
        Key("idempotency key DEL char", "idempotency", ("x-idempotency-key", "key\u007f"));
        Key("idempotency keys differ across headers", "idempotency", ("x-idempotency-key", "one"), ("Idempotency-Key", "two"));
        Key("idempotency key sent twice", "idempotency", ("x-idempotency-key", "one"), ("x-idempotency-key", "two"));
        return cases;
    }

    private static string Nested(int depth) =>
        string.Concat(Enumerable.Repeat("""{"a":""", depth - 1)) + "\"x\"" + new string('}', depth - 1);

    /// <summary>Valid JSON of exactly <paramref name="length"/> bytes: <paramref name="json"/> padded with trailing spaces.</summary>
    private static byte[] Pad(string json, int length)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var padded = new byte[length];
        padded.AsSpan().Fill((byte)' ');
        bytes.CopyTo(padded, 0);
        return padded;
    }

    private sealed record BadSubmission(
        Func<HttpContent> Content, HttpStatusCode Status, string Mention, (string Name, string Value)[]? KeyHeaders = null)
    {
        public (string Name, string Value)[] Headers => KeyHeaders ?? [];
    }

    /// <summary>A JSON body sent without a Content-Length (chunked), so the API cannot refuse it up front.</summary>
    private sealed class UnknownLengthContent : HttpContent
    {
        private readonly byte[] _body;

        public UnknownLengthContent(byte[] body)
        {
            _body = body;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(_body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
