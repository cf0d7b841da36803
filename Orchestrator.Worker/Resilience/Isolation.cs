namespace Orchestrator.Worker.Resilience;

/// <summary>How apart from other jobs a job runs in its worker (poison isolation, see <see cref="SoloGate"/>).</summary>
internal enum Isolation
{
    /// <summary>An ordinary job: runs beside any other ordinary job.</summary>
    None,

    /// <summary>A suspect whose lost attempt ran beside ordinary jobs: runs with the other such suspects its worker holds, and nothing else.</summary>
    Group,

    /// <summary>A suspect whose lost attempt ran in a group of suspects, or alone: runs alone.</summary>
    Alone,
}
