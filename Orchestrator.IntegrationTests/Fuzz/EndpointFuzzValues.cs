using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// The odd values <see cref="EndpointFuzzCases"/> draws for each parameter: query values (status,
/// limit, model, tenant, cursor parts), waits, event ids, path segments, <c>Accept</c> and trace context.
/// </summary>
internal static class EndpointFuzzValues
{
    public static readonly string[] Statuses =
        [.. JobStatus.All, "QUEUED", "Queued", " queued", "queued ", "dead", "failed,completed", "", "null", "0", "😀", new string('q', 300), "queued\u0001"];

    public static readonly string[] Limits =
    [
        "0", "1", "20", "100", "101", "500", "501", "1000", "-1", "-0", "+1", "01", "1.0", "1e2", "0x10", "2147483647", "2147483648",
        "-2147483649", "99999999999999999999", "", " ", "abc", "١٠", "1,0", "NaN", "null", "true", "[1]", "%FF",
    ];

    public static readonly string[] ModelNames =
        ["", " ", "simulated-llm", "m", new string('m', 200), new string('m', 201), string.Concat(Enumerable.Repeat("😀", 200)), string.Concat(Enumerable.Repeat("😀", 201)), "model\u0001"];

    public static readonly string[] Tenants =
    [
        TenantApiFactory.TenantA, TenantApiFactory.TenantB, "default", "acme", "a", "0", "a.b_c-d", new string('a', 64), new string('a', 65), "TENANT-A", "Tenant-a", "-a", ".a",
        "_a", "", " ", "tenant a", " tenant-a", "tenant-a,tenant-b", "../tenant-a", "тенант", "tenant-ä", "*", "{orch}", "tenant-a\u0001",
    ];

    public static readonly string[] CursorScores =
        ["0", "1", "1764316590921", "9223372036854775807", "9223372036854775808", "18446744073709551615", "-1", "+1", " 1", "1.5", "1e3", "", "00000000000000000000001"];

    public static readonly string[] OddCursors =
        ["", " ", "=", "====", "MTc2", "MTc2NDMxNjU5MDkyMTp…", "a+b/c=", "a b", "%%", new string('A', 128), new string('A', 129), new string('A', 10_000), "😀", "null", "\u202e"];

    /// <summary>Wait values answered at once whatever the job: zero, or not a wait (a sign, an exponent, out of range, not a number).</summary>
    public static readonly string[] InstantWaits =
    [
        "0", "0.0", "00", "0.", ".0", "-0", "-1", "-0.5", "61", "60.0000001", "60.5", "1e1", "1E-400", "NaN", "Infinity", "-Infinity", "abc", "",
        "1,5", "0x10", "1_0", "+1", "٣", "99999999999999999999999999", "1.7976931348623157e309", "0.5s", " 5", "true", "null", "%FF", "%E2%80%AE5",
    ];

    /// <summary>Wait values that do wait on a job that is not final: only aimed at final jobs and ids of none.</summary>
    public static readonly string[] Waits = ["0.001", "0.5", "1", "5.", ".5", "30", "60", "60.0", "59.999999999", "0.0000000001", "0000000000000060"];

    public static readonly string[] EventIds =
    [
        "", "0", "1", "2", "3", "6", "1000", "1001", "-1", "+1", "01", "1.5", "1e3", "0x1", "abc", "1-", "-1-1", "-", "0-0", "0-1", "1-0",
        "1764316590921-0", "1-1-1", "18446744073709551615", "18446744073709551616", "9007199254740993", "100000000000000000",
        "99999999999999999999", "18446744073709551615-18446744073709551615", "18446744073709551615-0", "0-18446744073709551615",
        "1764316590921-18446744073709551615", new string('0', 40) + "1", new string('0', 41) + "1", "１", "٣", "😀", "id: 1", "1 ", " 1",
    ];

    /// <summary>Path segments where a job id goes that a client may bend: dot segments, reserved and non-ASCII characters.</summary>
    public static readonly string[] OddSegments =
        [".", "..", "...", "%2e", "%2E%2E", "~", "%20", "+", "a%2Fb", "ÄÖÜ", "日本語", "%C3%A9", "%E2%80%AE", "a;b", "a:b", "*", "@", "!'()", "%FF%FE"];

    public static readonly string[] Accepts =
    [
        "text/html", "application/xml", "text/plain", "text/event-stream", "image/png", "application/json", "application/problem+json", "*/*",
        "application/*", "text/*;q=0.1", "application/json;q=0", "", "garbage", "text/html, application/xhtml+xml, */*;q=0.8", "application/problem+xml",
    ];

    public static readonly string[] TraceParents =
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-00000000000000000000000000000000-0000000000000000-00",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-xyz", "", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future", new string('z', 600), "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
    ];

    public static readonly string[] JunkParams = ["x=1", "=", "&&&", "limit", "a[]=1", "%ZZ=1", "cursor=%FF%FE", "tenant=%C0%80", "%E2%80%AE=1", new string('q', 5_000) + "=1"];

    /// <summary>Tenant A's key, sent in the other ways the API takes it.</summary>
    public static readonly (string, string)[][] KeyAVariants =
    [
        [("x-api-key", TenantApiFactory.KeyA)], [("Authorization", "bearer " + TenantApiFactory.KeyA)], [("Authorization", "Bearer   " + TenantApiFactory.KeyA)],
        [("Authorization", "Bearer " + TenantApiFactory.KeyA), ("x-api-key", TenantApiFactory.KeyA)], [("X-API-KEY", TenantApiFactory.KeyA)],
    ];

    /// <summary>No valid key: none, another scheme, a wrong, bent, hashed, doubled, conflicting, empty, non-ASCII or oversized one.</summary>
    public static readonly (string, string)[][] BadCredentials =
    [
        [], [("Authorization", "Bearer ")], [("Authorization", "Basic dXNlcjpwYXNz")], [("Authorization", "Bearer wrong-key")],
        [("Authorization", "Bearer" + TenantApiFactory.KeyA)], [("Authorization", TenantApiFactory.KeyA)], [("Authorization", "Bearer " + new string('k', 10_000))],
        [("Authorization", "Bearer " + TenantApiFactory.KeyA.ToUpperInvariant())], [("Authorization", "Bearer " + TenantApiFactory.KeyA + "x")],
        [("Authorization", "Bearer " + TenantApiFactory.KeyA[..^1])], [("Authorization", "Bearer kéy")], [("Authorization", "Bearer 😀")],
        [("Authorization", "Bearer key\u0001ctl")],
        [("Authorization", "Bearer sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(FuzzValues.Utf8(TenantApiFactory.KeyB))))],
        [("Authorization", "Bearer " + TenantApiFactory.KeyA), ("Authorization", "Bearer " + TenantApiFactory.KeyA)],
        [("Authorization", "Bearer " + TenantApiFactory.KeyA), ("x-api-key", TenantApiFactory.KeyB)],
        [("x-api-key", "")], [("x-api-key", " ")], [("X-API-KEY", "wrong")], [("Authorization", "Bearer " + new string('k', 40_000))],
    ];

    /// <summary>Redrive bodies of the wrong shape: not an object, not JSON, escaped lone surrogates, duplicates.</summary>
    public static readonly string[] RedriveShapes =
    [
        "", " ", "null", "[]", "\"x\"", "1", "{}", "{} {}", "{,}", "{\"limit\":1,}", "{'limit':1}", "{limit:1}", "{\"\\ud800\":1}",
        "{\"limit\":1,\"\\udc00\":2}", "{\"errorType\":\"\\ud800\"}", "{\"limit\":1,\"limit\":2}", "[{\"limit\":1}]", "{\"limit\":1} /* c */",
    ];

    // The values of each member of a redrive filter, as JSON tokens: well and badly typed, in and out of range.
    public static readonly string[] RedriveErrorTypes =
        ["\"attempts-exhausted\"", "\"permanent-failure\"", "\"\"", "null", "1", "true", "[]", "{}", "\"😀\"", "\"\\u0000\"", "\"\\ud83d\\ude00\""];

    public static readonly string[] RedriveTimes =
    [
        "\"2026-12-01T00:00:00Z\"", "\"2026-12-01\"", "\"2026-12-01T00:00:00\"", "\"2026-13-01T00:00:00Z\"", "\"2026-02-30T00:00:00Z\"",
        "\"0001-01-01T00:00:00+14:00\"", "\"9999-12-31T23:59:59-14:00\"", "\"0001-01-01T00:00:00Z\"", "\"9999-12-31T23:59:59.9999999Z\"",
        "\"yesterday\"", "\"\"", "null", "0", "1764316590921", "-1", "true", "[]", "{}", "\"2026-12-01T00:00:00+25:00\"", "\"2026-12-01T24:00:00Z\"",
    ];

    public static readonly string[] RedriveTenants = ["\"tenant-a\"", "\"tenant-b\"", "\"acme\"", "\"TENANT\"", "\"\"", "null", "1", "[]", $"\"{new string('a', 65)}\"", "\"../x\""];

    public static readonly string[] RedriveLimits = ["0", "1", "1000", "1001", "-1", "1.5", "1e3", "1E2", "1e400", "2147483648", "\"10\"", "null", "true", "[]", "{}", "01", "-0"];
}
