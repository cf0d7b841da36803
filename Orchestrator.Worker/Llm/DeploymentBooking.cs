namespace Orchestrator.Worker.Llm;

/// <summary>
/// A slot a job's call booked with its deployment while it waited (<c>reserve.lua</c>): presented
/// when the wait ends, the call goes without asking the limits again, which it was charged to already.
/// </summary>
/// <param name="Provider">The deployment booked with.</param>
/// <param name="Slot">The booking as <c>reserve.lua</c> answered it (the slot's time, Unix ms).</param>
public sealed record DeploymentBooking(string Provider, string Slot);
