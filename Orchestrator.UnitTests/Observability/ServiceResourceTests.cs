using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace Orchestrator.UnitTests.Observability;

/// <summary>The resource the service defaults export: each process is an instance of its own, unless the environment names it.</summary>
public sealed class ServiceResourceTests
{
    [Fact]
    public void NothingConfigured_ApplicationNameAndAnInstanceIdOfThisProcess()
    {
        var resource = ResourceOf([]);

        Assert.Equal("Orchestrator.Test", resource["service.name"]);
        // A random UUID drawn once per process (the SDK's): another replica, another process, draws its own.
        Assert.True(Guid.TryParse(resource["service.instance.id"] as string, out _), $"service.instance.id {resource["service.instance.id"]}");
        Assert.Equal(resource["service.instance.id"], ResourceOf([])["service.instance.id"]);
        Assert.Equal("opentelemetry", resource["telemetry.sdk.name"]);
    }

    [Fact]
    public void AppHostEnvironment_Wins()
    {
        // What the AppHost passes each project resource.
        var resource = ResourceOf(new()
        {
            ["OTEL_SERVICE_NAME"] = "worker",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=worker-xk2j9abc,deployment.environment.name=test",
        });

        Assert.Equal("worker", resource["service.name"]);
        Assert.Equal("worker-xk2j9abc", resource["service.instance.id"]);
        Assert.Equal("test", resource["deployment.environment.name"]);
    }

    private static Dictionary<string, object> ResourceOf(Dictionary<string, string?> configuration)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Orchestrator.Test" });
        builder.Configuration.AddInMemoryCollection(configuration);
        builder.ConfigureOpenTelemetry();
        using var host = builder.Build();
        return host.Services.GetRequiredService<TracerProvider>().GetResource().Attributes.ToDictionary(a => a.Key, a => a.Value);
    }
}
