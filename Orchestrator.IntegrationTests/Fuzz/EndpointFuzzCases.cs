using System.Buffers.Text;
using Orchestrator.Jobs;
using static Orchestrator.IntegrationTests.Fuzz.EndpointFuzzValues;
using static Orchestrator.IntegrationTests.Fuzz.FuzzValues;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>A job made before the endpoint fuzzer runs, and its tenant.</summary>
internal sealed record FuzzJob(string Id, string Tenant);

/// <summary>
/// The jobs the endpoint fuzzer aims at: queued ones (to cancel, to follow), processing ones that no
/// worker will stop (a cancel waits and answers 202), canceled ones (final: a wait on them answers at
/// once) and failed ones (dead letters to redrive). The cases change their states as they run (a
/// cancel, a redrive); what is checked holds in every state.
/// </summary>
internal sealed record FuzzTargets(IReadOnlyList<FuzzJob> Queued, IReadOnlyList<FuzzJob> Processing, IReadOnlyList<FuzzJob> Canceled, IReadOnlyList<FuzzJob> Failed)
{
    public IReadOnlyList<FuzzJob>[] All => [Queued, Processing, Canceled, Failed];
}

/// <summary>
/// The cases of <see cref="EndpointFuzzTests"/>: every endpoint but <c>POST /jobs</c>, with odd query
/// values, job ids, <c>Last-Event-ID</c>s, redrive filters and content types, wrong methods and
/// routes, under a tenant's key, the admins' key or a key that is missing or garbage, sometimes with
/// odd headers on top (<c>Accept</c>, trace context, oversized). <see cref="FuzzCase.Family"/> is the
/// operation aimed at.
/// </summary>
internal static class EndpointFuzzCases
{
    public const string ListJobs = "GET /jobs";
    public const string CountJobs = "GET /jobs/counts";
    public const string WaitForJob = "GET /jobs/{id}?wait";
    public const string JobEvents = "GET /jobs/{id}/events";
    public const string CancelJob = "POST /jobs/{id}/cancel";
    public const string RedriveOne = "POST /dead-letters/{id}/redrive";
    public const string RedriveMany = "POST /dead-letters/redrive";
    public const string DeadLetters = "GET /dead-letters";
    public const string Models = "GET /models";
    public const string WrongMethod = "wrong method";
    public const string NoRoute = "no route";

    /// <summary>The operations a case may succeed at (given a valid key).</summary>
    public static readonly string[] Operations = [ListJobs, CountJobs, WaitForJob, JobEvents, CancelJob, RedriveOne, RedriveMany, DeadLetters, Models];

    private const string TenantA = TenantApiFactory.TenantA;
    private const string TenantB = TenantApiFactory.TenantB;
    private const string Admin = "(admin)";

    public static FuzzCase Draw(Random random, int index, FuzzTargets targets)
    {
        var (caller, credentials) = Credentials(random);
        var fuzz = (index % 20) switch
        {
            0 or 1 or 2 => ListJobsCase(random, caller, targets),
            3 => Listing(CountJobs, "/jobs/counts", caller, random.Next(2) == 0 ? Pick(random, Tenants) : null, Query(random)),
            4 or 5 or 6 => WaitCase(random, caller, targets),
            7 or 8 or 9 => EventsCase(random, caller, targets),
            10 or 11 => JobPost(random, CancelJob, caller, targets, id => $"/jobs/{id}/cancel"),
            12 => JobPost(random, RedriveOne, caller, targets, id => $"/dead-letters/{id}/redrive"),
            13 or 14 or 15 => RedriveManyCase(random),
            16 or 17 => DeadLettersCase(random, caller, targets),
            18 => new FuzzCase(Models, HttpMethod.Get, "/models" + Query(random), null, null, []),
            _ => random.Next(2) == 0 ? WrongMethodCase(random, targets) : NoRouteCase(random, targets),
        };
        (string, string)[] odd = random.Next(5) == 0 ? OddHeaders(random) : [];
        return fuzz with
        {
            Headers = [.. credentials, .. fuzz.Headers, .. odd],
            NoSuccessBecause = caller is null ? "no valid key" : fuzz.NoSuccessBecause,
        };
    }

    /// <summary>
    /// The tenant a case calls as (<see cref="Admin"/> for the admins' key), null for no valid key,
    /// and the headers that say so: mostly valid keys, so that cases reach the endpoints, else every
    /// way of getting one wrong.
    /// </summary>
    private static (string? Caller, (string, string)[] Headers) Credentials(Random random)
    {
        return random.Next(20) switch
        {
            < 8 => (TenantA, [("Authorization", "Bearer " + TenantApiFactory.KeyA)]),
            8 or 9 => (TenantB, [("Authorization", "Bearer " + TenantApiFactory.KeyB)]),
            10 or 11 or 12 => (Admin, [("Authorization", "Bearer " + TenantApiFactory.AdminKey)]),
            13 or 14 => (TenantA, Pick(random, KeyAVariants)),
            _ => (null, Pick(random, BadCredentials)),
        };
    }

    private static FuzzCase ListJobsCase(Random random, string? caller, FuzzTargets targets)
    {
        var query = Query(random, ("status", Statuses), ("limit", Limits), ("cursor", [Cursor(random, targets)]), ("model", ModelNames));
        return Listing(ListJobs, "/jobs", caller, random.Next(3) == 0 ? Pick(random, Tenants) : null, query);
    }

    private static FuzzCase DeadLettersCase(Random random, string? caller, FuzzTargets targets) =>
        Listing(DeadLetters, "/dead-letters", caller, random.Next(3) == 0 ? Pick(random, Tenants) : null,
            Query(random, ("limit", Limits), ("cursor", [Cursor(random, targets)])));

    /// <summary>A listing, with <c>tenant</c> when given: a tenant's key asking for another tenant may not succeed.</summary>
    private static FuzzCase Listing(string family, string path, string? caller, string? tenant, string query)
    {
        var tenantParameter = tenant is null ? "" : (query.Length == 0 ? "?" : "&") + "tenant=" + Uri.EscapeDataString(tenant);
        var foreign = tenant is not null && TenantNames.IsValid(tenant) && caller is not null and not Admin && tenant != caller;
        return new FuzzCase(family, HttpMethod.Get, path + query + tenantParameter, null, null, [])
        {
            NoSuccessBecause = foreign ? "a tenant's key asks for another tenant" : null,
        };
    }

    private static FuzzCase WaitCase(Random random, string? caller, FuzzTargets targets)
    {
        // A wait on a job that is not final lasts the wait: those values go to final jobs and ids of none.
        var waits = random.Next(3) == 0;
        var (id, owner) = JobPath(random, waits ? [targets.Canceled] : targets.All);
        string Value() => Encode(random, Pick(random, waits ? Waits : InstantWaits));
        var query = random.Next(10) switch
        {
            0 => $"?wait={Value()}&wait={Value()}",
            1 => "?wait",
            2 => $"?WAIT={Value()}",
            3 => $"?wait={Value()}&{Pick(random, JunkParams)}",
            _ => $"?wait={Value()}",
        };
        return ForJob(new FuzzCase(WaitForJob, HttpMethod.Get, $"/jobs/{id}{query}", null, null, []), caller, owner);
    }

    private static FuzzCase EventsCase(Random random, string? caller, FuzzTargets targets)
    {
        var (id, owner) = JobPath(random, targets.All);
        string[] names = ["Last-Event-ID", "last-event-id", "LAST-EVENT-ID"];
        // Now and then a canceled job's own last event (queued, canceled, done): the reconnect after
        // 'done', answered 204. Any later id is a 400, so the drawn ones seldom reach it.
        var canceled = targets.Canceled.Any(j => j.Id == id);
        (string, string)[] headers = random.Next(6) switch
        {
            _ when canceled && random.Next(3) == 0 => [(Pick(random, names), "3")],
            0 => [],
            1 => [(Pick(random, names), Pick(random, EventIds)), (Pick(random, names), Pick(random, EventIds))],
            _ => [(Pick(random, names), Pick(random, EventIds))],
        };
        var query = random.Next(8) == 0 ? "?lastEventId=" + Encode(random, Pick(random, EventIds)) : "";
        return ForJob(new FuzzCase(JobEvents, HttpMethod.Get, $"/jobs/{id}/events{query}", null, null, headers), caller, owner);
    }

    /// <summary>A POST on one job (cancel, redrive); now and then with a body, which it does not read.</summary>
    private static FuzzCase JobPost(Random random, string family, string? caller, FuzzTargets targets, Func<string, string> path)
    {
        var (id, owner) = JobPath(random, targets.All);
        var body = random.Next(10) == 0 ? RandomBytes(random, random.Next(0, 300)) : null;
        var contentType = body is null ? null : Pick(random, ContentTypes);
        return ForJob(new FuzzCase(family, HttpMethod.Post, path(id), body, contentType, []), caller, owner);
    }

    private static FuzzCase ForJob(FuzzCase fuzz, string? caller, string? owner) =>
        owner is not null && caller is not null and not Admin && owner != caller ? fuzz with { NoSuccessBecause = "another tenant's job" } : fuzz;

    /// <summary>An id for the path, and its job's tenant when it names one: mostly the targets, else ids of none, malformed or bent ones.</summary>
    private static (string Id, string? Owner) JobPath(Random random, IReadOnlyList<FuzzJob>[] pools)
    {
        var roll = random.Next(20);
        if (roll < 11)
        {
            var job = Pick(random, Pick(random, pools));
            return (job.Id, job.Tenant);
        }

        var real = Pick(random, Pick(random, pools)).Id;
        return (roll switch
        {
            11 or 12 => JobLike(random),
            < 18 => OddJobId(random),
            18 => Pick(random, OddSegments),
            // A job's id bent: its case changed, a dot or an escaped space after it.
            _ => Pick(random, [real.ToUpperInvariant(), real + ".", real + "%20"]),
        }, null);
    }

    private static FuzzCase RedriveManyCase(Random random)
    {
        var body = random.Next(8) switch
        {
            0 or 1 or 2 => Utf8(RedriveFilter(random)),
            3 => Mutate(random, Utf8(RedriveFilter(random))),
            4 => Truncate(random, Utf8(RedriveFilter(random))),
            5 => Utf8(Pick(random, RedriveShapes)),
            6 => random.Next(4) switch
            {
                0 => Utf8(new string('[', random.Next(60, 5_000)) + new string(']', random.Next(0, 5_000))),
                1 => Utf8("{" + new string(' ', random.Next(1_000, 200_000)) + "}"),
                2 => Utf8("{" + string.Join(",", Enumerable.Range(0, random.Next(100, 2_000)).Select(i => $"\"f{i}\":{i}")) + "}"),
                _ => Utf8($"{{\"errorType\":\"{new string('e', random.Next(10_000, 300_000))}\"}}"),
            },
            _ => random.Next(3) switch
            {
                0 => RandomBytes(random, random.Next(0, 600)),
                1 => [.. Utf8("{\"errorType\":\""), .. InvalidUtf8(random), .. Utf8("\"}")],
                _ => System.Text.Encoding.Unicode.GetBytes(RedriveFilter(random)),
            },
        };
        var roll = random.Next(20);
        return roll switch
        {
            0 => new FuzzCase(RedriveMany, HttpMethod.Post, "/dead-letters/redrive", null, null, []),
            1 => new FuzzCase(RedriveMany, HttpMethod.Post, "/dead-letters/redrive", body, null, []),
            < 7 => new FuzzCase(RedriveMany, HttpMethod.Post, "/dead-letters/redrive", body, Pick(random, ContentTypes), []),
            _ => new FuzzCase(RedriveMany, HttpMethod.Post, "/dead-letters/redrive", body, "application/json", []),
        };
    }

    /// <summary>A JSON object with some of the filter's members, each well or badly typed, in or out of range.</summary>
    private static string RedriveFilter(Random random)
    {
        var members = new List<string>();
        foreach (var (name, values) in new[] { ("errorType", RedriveErrorTypes), ("from", RedriveTimes), ("to", RedriveTimes), ("tenant", RedriveTenants), ("limit", RedriveLimits) })
        {
            if (random.Next(2) == 0)
            {
                members.Add($"\"{(random.Next(12) == 0 ? name.ToUpperInvariant() : name)}\":{Pick(random, values)}");
            }
        }

        if (random.Next(6) == 0)
        {
            members.Add($"\"{Pick(random, Numbers)}\":{Pick(random, Numbers)}");
        }

        return "{" + string.Join(",", members.OrderBy(_ => random.Next())) + "}";
    }

    private static FuzzCase WrongMethodCase(Random random, FuzzTargets targets)
    {
        var id = Pick(random, Pick(random, targets.All)).Id;
        HttpMethod[] readOnly = [HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, HttpMethod.Options, new("FUZZ")];
        HttpMethod[] postOnly = [HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch, new("FUZZ")];
        (string Path, HttpMethod[] Methods)[] routes =
        [
            ("/jobs", [HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch]), ($"/jobs/{id}", readOnly), ($"/jobs/{id}/events", readOnly),
            ("/jobs/counts", readOnly), ($"/jobs/{id}/cancel", postOnly), ($"/dead-letters/{id}/redrive", postOnly),
            ("/dead-letters/redrive", postOnly), ("/dead-letters", readOnly), ("/models", readOnly),
        ];
        var (path, methods) = Pick(random, routes);
        return new FuzzCase(WrongMethod, Pick(random, methods), path, null, null, []) { NoSuccessBecause = "the route does not take this method" };
    }

    private static FuzzCase NoRouteCase(Random random, FuzzTargets targets)
    {
        var id = Pick(random, Pick(random, targets.All)).Id;
        string[] paths =
        [
            "/", "/nope", "/job", $"/jobs/{id}/events/x", $"/jobs/{id}/cancel/now", $"/dead-letters/{id}", $"/dead-letters/{id}/redrive/x",
            "/models/x", "/jobs/counts/x", "/jobs/a/b/c", "/dead-letters/a/b", $"/jobs%2F{id}", "/health/x", "/openapi/v2.json",
        ];
        return new FuzzCase(NoRoute, random.Next(2) == 0 ? HttpMethod.Get : HttpMethod.Post, Pick(random, paths), null, null, [])
        {
            NoSuccessBecause = "no such route",
        };
    }

    /// <summary>A query string: some of <paramref name="parameters"/> (now and then twice), maybe a junk one.</summary>
    private static string Query(Random random, params (string Name, string[] Values)[] parameters)
    {
        var parts = new List<string>();
        foreach (var (name, values) in parameters)
        {
            if (random.Next(2) == 0)
            {
                for (var i = random.Next(8) == 0 ? 2 : 1; i > 0; i--)
                {
                    parts.Add($"{name}={Encode(random, Pick(random, values))}");
                }
            }
        }

        if (random.Next(5) == 0)
        {
            parts.Add(Pick(random, JunkParams));
        }

        return parts.Count == 0 ? "" : "?" + string.Join("&", parts);
    }

    /// <summary>A value as is (the client escapes what it must), escaped, or every byte percent-encoded.</summary>
    private static string Encode(Random random, string value) => random.Next(3) switch
    {
        0 => value,
        1 => Uri.EscapeDataString(value),
        _ => PercentEncode(Utf8(value)),
    };

    /// <summary>A cursor: base64url of "score:id" (well or badly formed), of random bytes, or not base64url at all.</summary>
    private static string Cursor(Random random, FuzzTargets targets) => random.Next(4) switch
    {
        0 => Base64Url.EncodeToString(Utf8($"{Pick(random, CursorScores)}:{Pick(random, [JobLike(random), Pick(random, targets.Queued).Id, "", "x", new string('A', 23)])}")),
        1 => Base64Url.EncodeToString(RandomBytes(random, random.Next(0, 100))),
        _ => Pick(random, OddCursors),
    };

    private static (string, string)[] OddHeaders(Random random) => random.Next(8) switch
    {
        0 or 1 or 2 => [("Accept", Pick(random, Accepts))],
        3 => [("traceparent", Pick(random, TraceParents)), ("tracestate", "k=" + new string('v', random.Next(0, 2_000)))],
        4 => [("X-Odd", new string('h', random.Next(28_000, 40_000)))],
        5 => [.. Enumerable.Range(0, random.Next(50, 150)).Select(i => ($"X-Many-{i}", new string('m', 300)))],
        6 => [("Last-Event-ID", Pick(random, EventIds))],
        _ => [Pick(random, (ValueTuple<string, string>[])[("Cookie", "a=\u00e9"), ("Origin", "null"), ("If-None-Match", "*"), ("Range", "bytes=0-0")])],
    };
}
