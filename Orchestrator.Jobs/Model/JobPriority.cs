namespace Orchestrator.Jobs;

/// <summary>
/// The priorities of <c>POST /jobs</c> (<c>priority</c>): they order a tenant's own jobs, never one
/// tenant's against another's (that is the fair share). A <see cref="Low"/> job goes first once it has
/// waited <c>Scheduling:MaxLowPriorityWait</c>, so it cannot starve.
/// </summary>
public static class JobPriority
{
    public const string High = "high";
    public const string Normal = "normal";
    public const string Low = "low";

    /// <summary>Whether <paramref name="priority"/> is one of the three.</summary>
    public static bool IsValid(string? priority) => priority is High or Normal or Low;
}
