using System.Globalization;
using System.Text;
using static Orchestrator.IntegrationTests.Fuzz.FuzzValues;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// The cases of <see cref="SubmitFuzzTests"/>: <c>POST /jobs</c> bodies drawn from families of
/// malformation (random bytes, truncated or mutated JSON, wrong types, huge numbers, unicode, absurd
/// lengths, odd structure, odd headers) and <c>GET /jobs/{id}</c> with odd ids.
/// </summary>
internal static class SubmitFuzzCases
{
    private static readonly string[] Fields = ["prompt", "model", "maxTokens", "temperature", "metadata", "Prompt", "PROMPT", "extra", "", "prompt\\u0000"];

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
        var id = OddJobId(random);
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
}
