using System.Diagnostics;
using OpenTelemetry.Trace;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.UnitTests.Observability;

/// <summary>Which spans the service defaults record: Redis commands only inside a recorded span.</summary>
public sealed class OrphanRedisSpanSamplerTests
{
    private static readonly OrphanRedisSpanSampler Sampler = new();

    private static readonly ActivityContext RecordedParent =
        new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);

    // A health probe's request span: created, but not recorded (the ASP.NET Core filter said no).
    private static readonly ActivityContext UnrecordedParent =
        new(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None);

    public static TheoryData<string, string> RedisSystemTags => new()
    {
        { "db.system", "redis" },
        { "db.system.name", "redis" },
    };

    [Theory]
    [MemberData(nameof(RedisSystemTags))]
    public void RedisCommand_WithoutParent_IsDropped(string key, string value) =>
        Assert.Equal(SamplingDecision.Drop, Decide(default, "XAUTOCLAIM", (key, value)));

    [Fact]
    public void RedisCommand_UnderUnrecordedHealthProbe_IsDropped() =>
        Assert.Equal(SamplingDecision.Drop, Decide(UnrecordedParent, "PING", ("db.system", "redis")));

    [Theory]
    [MemberData(nameof(RedisSystemTags))]
    public void RedisCommand_InsideRecordedSpan_IsRecorded(string key, string value) =>
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(RecordedParent, "EVAL", (key, value)));

    [Fact]
    public void OtherRootSpan_IsRecorded() =>
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(default, "llm attempt", ("orchestrator.job.id", "abc")));

    [Fact]
    public void OtherDatabaseRootSpan_IsRecorded() =>
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(default, "SELECT", ("db.system", "postgresql")));

    [Fact]
    public void OtherSpan_FollowsItsParent() =>
        Assert.Equal(SamplingDecision.Drop, Decide(UnrecordedParent, "GET", ("http.request.method", "GET")));

    private static SamplingDecision Decide(ActivityContext parent, string name, (string Key, string Value) tag) =>
        Sampler.ShouldSample(new SamplingParameters(
            parent,
            parent.TraceId == default ? ActivityTraceId.CreateRandom() : parent.TraceId,
            name,
            ActivityKind.Client,
            [new KeyValuePair<string, object?>(tag.Key, tag.Value)])).Decision;
}
