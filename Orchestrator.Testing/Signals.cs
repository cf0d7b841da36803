using System.Runtime.InteropServices;

namespace Orchestrator.Testing;

/// <summary>POSIX signals, for the faults .NET's Process class cannot send (pause, resume, polite stop).</summary>
public static class Signals
{
    /// <summary>SIGTERM: a polite stop, as Kubernetes or systemd send.</summary>
    public const int Term = 15;

    /// <summary>SIGKILL.</summary>
    public const int Kill = 9;

    /// <summary>SIGSTOP: freezes the process.</summary>
    public const int Stop = 19;

    /// <summary>SIGCONT: lets a stopped process run again.</summary>
    public const int Continue = 18;

    /// <summary>Sends <paramref name="signal"/>; false when the process is already gone.</summary>
    public static bool Send(int pid, int signal) => NativeMethods.kill(pid, signal) == 0;

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054 // LibraryImport would need unsafe code for no gain on one int-only call.
        internal static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
    }
}
