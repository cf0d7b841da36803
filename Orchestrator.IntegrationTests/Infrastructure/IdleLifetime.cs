using Microsoft.Extensions.Hosting;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>A host lifetime for a component tested outside a host: nothing starts or stops.</summary>
internal sealed class IdleLifetime : IHostApplicationLifetime
{
    public CancellationToken ApplicationStarted => CancellationToken.None;

    public CancellationToken ApplicationStopping => CancellationToken.None;

    public CancellationToken ApplicationStopped => CancellationToken.None;

    public void StopApplication()
    {
    }
}
