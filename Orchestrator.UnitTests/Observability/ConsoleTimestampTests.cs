using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.UnitTests.Observability;

/// <summary>
/// The console's timestamps as the service defaults set them: the simple format keeps the space
/// between the time and the level; the JSON format, which binds the same configured format, has no
/// space inside its value (an outside audit found <c>"Timestamp":"2026-12-05T09:39:46.945Z "</c>).
/// </summary>
public sealed class ConsoleTimestampTests
{
    [Theory]
    // The services' appsettings.json give the simple format's, with its trailing space.
    [InlineData("yyyy-MM-ddTHH:mm:ss.fffZ ")]
    // None configured (the jobs page, a service started from another folder).
    [InlineData(null)]
    public void JsonTimestamp_NoTrailingSpace_Utc_SimpleKeepsItsSpace(string? configured)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        if (configured is not null)
        {
            builder.Configuration["Logging:Console:FormatterOptions:TimestampFormat"] = configured;
            builder.Configuration["Logging:Console:FormatterOptions:UseUtcTimestamp"] = "true";
        }

        builder.AddServiceDefaults();
        using var host = builder.Build();

        var json = host.Services.GetRequiredService<IOptionsMonitor<JsonConsoleFormatterOptions>>().CurrentValue;
        var simple = host.Services.GetRequiredService<IOptionsMonitor<SimpleConsoleFormatterOptions>>().CurrentValue;
        Assert.Equal("yyyy-MM-ddTHH:mm:ss.fffZ", json.TimestampFormat);
        Assert.True(json.UseUtcTimestamp);
        Assert.Equal("yyyy-MM-ddTHH:mm:ss.fffZ ", simple.TimestampFormat);
        Assert.True(simple.UseUtcTimestamp);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("false", false)]
    public void JsonLines_CarryScopes_TraceIdsAmongThem_UnlessConfiguredOff(string? configured, bool expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Production" });
        if (configured is not null)
        {
            builder.Configuration["Logging:Console:FormatterOptions:IncludeScopes"] = configured;
        }

        builder.AddServiceDefaults();
        using var host = builder.Build();

        Assert.Equal(expected, host.Services.GetRequiredService<IOptionsMonitor<JsonConsoleFormatterOptions>>().CurrentValue.IncludeScopes);
        // The scope a line is written in carries the current span's trace and span ids.
        var tracking = host.Services.GetRequiredService<IOptions<LoggerFactoryOptions>>().Value.ActivityTrackingOptions;
        Assert.True(tracking.HasFlag(ActivityTrackingOptions.TraceId) && tracking.HasFlag(ActivityTrackingOptions.SpanId), tracking.ToString());
        // The simple format keeps its one line per entry.
        Assert.False(host.Services.GetRequiredService<IOptionsMonitor<SimpleConsoleFormatterOptions>>().CurrentValue.IncludeScopes);
    }

    [Fact]
    public void TenantScope_OnePair_ReadsAsNameAndValue()
    {
        var scope = new TenantScope("acme");
        Assert.Equal([new KeyValuePair<string, object?>(OrchestratorTags.Tenant, "acme")], scope);
        // A console's scopes print it as text: the pair, not the type name of an array of pairs.
        Assert.Equal("orchestrator.tenant:acme", scope.ToString());
    }
}
