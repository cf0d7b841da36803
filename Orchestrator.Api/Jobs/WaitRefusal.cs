namespace Orchestrator.Api.Jobs;

/// <summary>Why <see cref="JobNotifications.Listen"/> opened no listener.</summary>
internal enum WaitRefusal
{
    /// <summary>A listener was opened.</summary>
    None,

    /// <summary><c>Api:MaxConcurrentWaits</c> listeners are open in this process: 503.</summary>
    ProcessFull,

    /// <summary>The caller's tenant holds <c>Api:MaxConcurrentWaitsPerTenant</c> of them: 429 <c>quota-exceeded</c>.</summary>
    TenantFull,
}
