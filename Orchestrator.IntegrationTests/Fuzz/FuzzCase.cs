using System.Globalization;
using System.Text;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// One generated request: a method and path, raw body bytes, a content type, and headers added
/// without validation. Drawn from a seeded <see cref="Random"/> over families of malformation.
/// </summary>
internal sealed record FuzzCase(string Family, HttpMethod Method, string Path, byte[]? Body, string? ContentType, (string Name, string Value)[] Headers)
{
    private static readonly string[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json; charset=latin1",
        "application/json; charset=utf-16", "application/problem+json", "application/vnd.api+json", "text/json", "text/plain",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;;", "application/json; charset=",
        "application/json; charset=\"utf-8\"", "*/*", "application/", "json", "application/json; q=0.5; charset=utf-8; x=\u00e9",
        "APPLICATION/JSON", "application/json\u0000", "",
    ];

    private static readonly string[] Numbers =
    [
        "1e400", "-1e400", "1e-400", "-0", "0", "-0.0", "9999999999999999999", "-9999999999999999999", "1.7976931348623157e309",
        "2147483648", "-2147483649", "1000001", "0.5", "1E2", "00", "01", "+1", ".5", "5.", "NaN", "Infinity", "-Infinity", "0x10",
        "1_000", "2.0000000000000000001", "3", "-1", "1e", "--1",
    ];

    private static readonly string[] Strings =
    [
        "hello", "", " ", "\\t\\n", "\\u0000", "nul\\u0000inside", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udfff", "\\ud83d\\ude00",
        "😀🚀", "\u202eRTL override\u202c", "\u200f\u200e", "\ufeffBOM", "\ufffe", "e\u0301\u0301\u0301", "\u0000", "\\\\", "\\\"",
        "\\x41", "\\u12", "\\uZZZZ", "Ω≈ç√∫", "𝕳𝖊𝖑𝖑𝖔", "<script>alert(1)</script>", "' OR 1=1 --", "{orch}:job:x", "%00", "../../etc/passwd",
    ];

    private static readonly string[] Fields = ["prompt", "model", "maxTokens", "temperature", "metadata", "Prompt", "PROMPT", "extra", "", "prompt\\u0000"];

    public bool IsSubmit => Method == HttpMethod.Post;

    public string Describe()
    {
        var body = Body is null ? "no body" : Body.Length > 120
            ? $"{Body.Length} bytes: {Escape(Body.AsSpan(0, 120))}…"
            : $"{Body.Length} bytes: {Escape(Body)}";
        var headers = string.Join("; ", Headers.Select(h => $"{h.Name}: {(h.Value.Length > 40 ? h.Value[..40] + $"…({h.Value.Length})" : h.Value)}"));
        return $"[{Family}] {Method} {(Path.Length > 80 ? Path[..80] + "…" : Path)} ({ContentType ?? "no content type"}; {headers}) {body}";
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

    public static FuzzCase Submit(Random random, int index)
    {
        var (family, body) = (index % 9) switch
        {
            0 => ("random bytes", RandomBytes(random, random.Next(0, 600))),
            1 => ("truncated json", Truncate(random, Utf8(ValidBody(random)))),
            2 => ("wrong types", Utf8(WrongTypes(random))),
            3 => ("huge numbers", Utf8(HugeNumbers(random))),
            4 => ("unicode", Unicode(random)),
            5 => ("absurd lengths", AbsurdLengths(random)),
            6 => ("mutated json", Mutate(random, Utf8(ValidBody(random)))),
            7 => ("odd headers", Utf8(ValidBody(random))),
            _ => ("structure", Utf8(Structure(random))),
        };
        var contentType = family == "odd headers" || random.Next(10) == 0
            ? ContentTypes[random.Next(ContentTypes.Length)]
            : "application/json";
        var headers = family == "odd headers" || random.Next(6) == 0 ? OddHeaders(random) : [];
        if (random.Next(30) == 0)
        {
            contentType = null;
        }

        return new FuzzCase(family, HttpMethod.Post, "/jobs", body, contentType, headers);
    }

    public static FuzzCase Get(Random random)
    {
        var id = random.Next(8) switch
        {
            0 => new string('A', 22),
            1 => JobLike(random),
            2 => new string('x', random.Next(1, 10_000)),
            3 => PercentEncode(RandomBytes(random, random.Next(1, 64))),
            4 => PercentEncode(Utf8(Strings[random.Next(Strings.Length)])),
            5 => PercentEncode(Utf8("../../" + JobLike(random))),
            6 => PercentEncode([0xED, 0xA0, 0x80, 0xC0, 0x80, 0xFF]),
            _ => JobLike(random)[..random.Next(1, 22)],
        };
        return new FuzzCase("get", HttpMethod.Get, "/jobs/" + id, null, null, random.Next(4) == 0 ? OddHeaders(random) : []);
    }

    private static string ValidBody(Random random)
    {
        var parts = new List<string> { $"\"prompt\":\"fuzz {random.Next()}\"" };
        if (random.Next(2) == 0)
        {
            parts.Add($"\"maxTokens\":{random.Next(1, 1000)}");
        }

        if (random.Next(2) == 0)
        {
            parts.Add($"\"temperature\":{(random.NextDouble() * 2).ToString("0.##", CultureInfo.InvariantCulture)}");
        }

        if (random.Next(2) == 0)
        {
            parts.Add("\"metadata\":{\"a\":\"b\",\"simulator.failureRate\":\"0\"}");
        }

        if (random.Next(3) == 0)
        {
            parts.Add("\"model\":\"m\"");
        }

        return "{" + string.Join(",", parts.OrderBy(_ => random.Next())) + "}";
    }

    private static string WrongTypes(Random random)
    {
        string[] values = ["1", "true", "false", "null", "[]", "{}", "[\"a\"]", "{\"a\":1}", "\"text\"", "1.5", "\"1\"", "[null]", "{\"\":{}}"];
        var field = Fields[random.Next(Fields.Length)];
        var value = values[random.Next(values.Length)];
        var withPrompt = field != "prompt" && random.Next(2) == 0 ? "\"prompt\":\"ok\"," : "";
        return field == "metadata" && random.Next(2) == 0
            ? $"{{{withPrompt}\"metadata\":{{\"k\":{value}}}}}"
            : $"{{{withPrompt}\"{field}\":{value}}}";
    }

    private static string HugeNumbers(Random random)
    {
        var number = Numbers[random.Next(Numbers.Length)];
        return random.Next(4) switch
        {
            0 => $"{{\"prompt\":\"n\",\"maxTokens\":{number}}}",
            1 => $"{{\"prompt\":\"n\",\"temperature\":{number}}}",
            2 => $"{{\"prompt\":{number}}}",
            _ => number,
        };
    }

    private static byte[] Unicode(Random random)
    {
        var text = Strings[random.Next(Strings.Length)];
        return random.Next(6) switch
        {
            0 => [0xEF, 0xBB, 0xBF, .. Utf8($"{{\"prompt\":\"{text}\"}}")],
            1 => Utf8($"{{\"prompt\":\"ok\",\"metadata\":{{\"{text}\":\"{text}\"}}}}"),
            2 => [.. Utf8("{\"prompt\":\""), .. InvalidUtf8(random), .. Utf8("\"}")],
            3 => Encoding.Unicode.GetBytes($"{{\"prompt\":\"{text}\"}}"),
            4 => Utf8($"{{\"model\":\"{text}\",\"prompt\":\"{text}\"}}"),
            _ => Utf8($"{{\"prompt\":\"{text}\"}}"),
        };
    }

    private static byte[] AbsurdLengths(Random random) => random.Next(7) switch
    {
        0 => Utf8($"{{\"prompt\":\"{new string('p', random.Next(90, 20_000))}\"}}"),
        1 => Utf8(new string('[', random.Next(60, 5_000)) + new string(']', random.Next(0, 5_000))),
        2 => Utf8("{\"prompt\":\"ok\",\"metadata\":{" + string.Join(",", Enumerable.Range(0, random.Next(30, 400)).Select(i => $"\"k{i}\":\"v\"")) + "}}"),
        3 => Utf8($"{{\"prompt\":\"ok\",\"metadata\":{{\"{new string('k', random.Next(60, 3_000))}\":\"v\"}}}}"),
        4 => Utf8($"{{\"prompt\":\"ok\",\"model\":\"{new string('m', random.Next(190, 5_000))}\"}}"),
        5 => RandomBytes(random, random.Next(8_000, 70_000)),
        _ => Utf8("{" + new string(' ', random.Next(1, 9_000)) + "\"prompt\":\"ok\"}"),
    };

    private static string Structure(Random random)
    {
        string[] shapes =
        [
            "", " ", "null", "[]", "[{\"prompt\":\"x\"}]", "\"prompt\"", "{}", "{\"prompt\":\"a\",\"prompt\":\"b\"}", "{\"prompt\":\"a\"} {}",
            "{\"prompt\":\"a\",}", "{'prompt':'a'}", "{prompt:\"a\"}", "{\"prompt\":\"a\" /* c */}", "// c\n{\"prompt\":\"a\"}", "{\"prompt\":\"a\"}\u0000",
            "{\"prompt\":\"a\",\"metadata\":{\"k\":\"v\",\"k\":\"w\"}}", "{\"metadata\":{},\"prompt\":\"  \"}", "{\"prompt\":\"\\u00\"}", "{\"prompt\":\"a\"]",
            "{\"prompt\":\"ok\",\"maxTokens\":0}", "{\"prompt\":\"ok\",\"temperature\":2.0000001}", "{\"prompt\":\"ok\",\"metadata\":null,\"model\":null}",
        ];
        return shapes[random.Next(shapes.Length)];
    }

    private static (string, string)[] OddHeaders(Random random)
    {
        string[] keys = ["x-idempotency-key", "Idempotency-Key", "IDEMPOTENCY-KEY"];
        string Value() => random.Next(9) switch
        {
            0 => new string('k', 10_240),
            1 => "",
            2 => " ",
            3 => "key\u00e9",
            4 => "key\u0001ctl",
            5 => "😀",
            6 => new string('k', 256),
            7 => $"fuzz-{random.Next(50)}",
            _ => $"fuzz-{random.Next()}",
        };
        var count = random.Next(1, 4);
        var headers = new List<(string, string)>();
        for (var i = 0; i < count; i++)
        {
            headers.Add(random.Next(5) == 0
                ? (random.Next(2) == 0 ? "Accept" : "X-Odd-" + random.Next(3), Value())
                : (keys[random.Next(keys.Length)], Value()));
        }

        return [.. headers];
    }

    private static byte[] Truncate(Random random, byte[] body) => body[..random.Next(0, body.Length)];

    private static byte[] Mutate(Random random, byte[] body)
    {
        var bytes = body.ToList();
        for (var i = random.Next(1, 4); i > 0 && bytes.Count > 0; i--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(3))
            {
                case 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 1:
                    bytes.Insert(at, (byte)"{}[]\",:\\0e-"[random.Next(11)]);
                    break;
                default:
                    bytes.RemoveAt(at);
                    break;
            }
        }

        return [.. bytes];
    }

    private static byte[] InvalidUtf8(Random random)
    {
        byte[][] sequences = [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]];
        return sequences[random.Next(sequences.Length)];
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string JobLike(Random random)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        return new string([.. Enumerable.Range(0, 22).Select(_ => alphabet[random.Next(alphabet.Length)])]);
    }

    // NUL is left out of paths: the in-process test server throws on it before the app runs (Kestrel answers 400).
    private static string PercentEncode(byte[] bytes) => string.Concat(bytes.Select(b => $"%{Math.Max(b, (byte)1):X2}"));

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

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
