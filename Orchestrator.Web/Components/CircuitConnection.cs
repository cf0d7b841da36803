using Microsoft.AspNetCore.Components.Server.Circuits;

namespace Orchestrator.Web.Components;

/// <summary>
/// Whether this circuit's browser is connected (one per circuit): the pages' live reads pause while it
/// is not, instead of reading the API every second for a page nobody sees.
/// </summary>
public sealed class CircuitConnection : CircuitHandler
{
    private volatile bool _up = true;

    /// <summary>False from a lost connection until the browser reconnects.</summary>
    public bool IsUp => _up;

    /// <inheritdoc />
    public override Task OnConnectionDownAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        _up = false;
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public override Task OnConnectionUpAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        _up = true;
        return Task.CompletedTask;
    }
}
