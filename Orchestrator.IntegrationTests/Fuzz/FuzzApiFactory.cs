using Microsoft.AspNetCore.Hosting;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// <see cref="TenantApiFactory"/> whose cancel of a processing job waits 200 ms for its worker, not
/// 3 s, before answering 202: the endpoint fuzzer cancels processing jobs that no worker stops.
/// </summary>
public sealed class FuzzApiFactory : TenantApiFactory
{
    /// <inheritdoc />
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Api:CancelWait", "00:00:00.200");
    }
}
