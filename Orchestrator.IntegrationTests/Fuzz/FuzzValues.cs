using System.Text;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// The malformed values both fuzzers draw from (content types, numbers, strings, job ids) and the
/// byte-level mutations they apply; each draw takes the seeded <see cref="Random"/> of its fuzzer.
/// </summary>
internal static class FuzzValues
{
    public static readonly string[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json; charset=latin1",
        "application/json; charset=utf-16", "application/problem+json", "application/vnd.api+json", "text/json", "text/plain",
        "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json;;;", "application/json; charset=",
        "application/json; charset=\"utf-8\"", "*/*", "application/", "json", "application/json; q=0.5; charset=utf-8; x=\u00e9",
        "APPLICATION/JSON", "application/json\u0000", "",
    ];

    /// <summary>Numbers as JSON would spell them, in and out of every range, and some that are not numbers.</summary>
    public static readonly string[] Numbers =
    [
        "1e400", "-1e400", "1e-400", "-0", "0", "-0.0", "9999999999999999999", "-9999999999999999999", "1.7976931348623157e309",
        "2147483648", "-2147483649", "1000001", "0.5", "1E2", "00", "01", "+1", ".5", "5.", "NaN", "Infinity", "-Infinity", "0x10",
        "1_000", "2.0000000000000000001", "3", "-1", "1e", "--1",
    ];

    /// <summary>Text for JSON string literals: escapes (lone surrogates among them), marks, scripts, injections.</summary>
    public static readonly string[] Strings =
    [
        "hello", "", " ", "\\t\\n", "\\u0000", "nul\\u0000inside", "\\ud800", "\\udc00", "\\ud800\\u0041", "\\udbff\\udfff", "\\ud83d\\ude00",
        "😀🚀", "\u202eRTL override\u202c", "\u200f\u200e", "\ufeffBOM", "\ufffe", "e\u0301\u0301\u0301", "\u0000", "\\\\", "\\\"",
        "\\x41", "\\u12", "\\uZZZZ", "Ω≈ç√∫", "𝕳𝖊𝖑𝖑𝖔", "<script>alert(1)</script>", "' OR 1=1 --", "{orch}:job:x", "%00", "../../etc/passwd",
    ];

    /// <summary>A path segment where a job id goes: unknown, too long, percent-encoded bytes and text, invalid UTF-8, cut short.</summary>
    public static string OddJobId(Random random) => random.Next(8) switch
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

    /// <summary>22 characters of the job id alphabet: well-formed, and (almost surely) no job's.</summary>
    public static string JobLike(Random random)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        return new string([.. Enumerable.Range(0, 22).Select(_ => alphabet[random.Next(alphabet.Length)])]);
    }

    // NUL is left out of paths: the in-process test server throws on it before the app runs (Kestrel answers 400).
    public static string PercentEncode(byte[] bytes) => string.Concat(bytes.Select(b => $"%{Math.Max(b, (byte)1):X2}"));

    public static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    public static byte[] Truncate(Random random, byte[] body) => body[..random.Next(0, body.Length)];

    /// <summary>One to three edits: a byte replaced, a JSON punctuation byte inserted, a byte removed.</summary>
    public static byte[] Mutate(Random random, byte[] body)
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

    public static byte[] InvalidUtf8(Random random)
    {
        byte[][] sequences = [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]];
        return sequences[random.Next(sequences.Length)];
    }

    public static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
