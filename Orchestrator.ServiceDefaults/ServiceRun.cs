using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Runs a service on addresses that may not be free: one Kestrel cannot bind (another process holds
/// the port, or the address is not this machine's) ends the start with one line naming it and exit
/// code 1, as a bad setting does, not as an unhandled exception (exit code 134 and a stack trace).
/// </summary>
public static class ServiceRun
{
    /// <summary>
    /// The longest wait for the host's disposal once it has stopped. Behind a half-open link to
    /// Redis (no reply, no reset) a worker's disposal took 30 s after its host had stopped, with jobs'
    /// outcomes still waiting to be written (an outside audit: 65 s with a 30 s shutdown timeout).
    /// Normally it takes milliseconds.
    /// </summary>
    public static readonly TimeSpan DisposeBound = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="app"/> until it stops; returns the exit code: <see cref="Environment.ExitCode"/>
    /// (set by a guard that stopped the service), or 1 when an address could not be bound.
    /// </summary>
    public static async Task<int> RunUntilStoppedAsync(this WebApplication app)
    {
        string? failure = null;
        try
        {
            var addresses = app.Configuration[ListenAddresses.Key] ?? "of Kestrel:Endpoints";
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (BindFailure(e, addresses) is { } message)
            {
                // The server starts after the other hosted services: the worker's loops may hold jobs
                // already. Stopped as on SIGTERM, they hand them back rather than leave them to lapse.
                failure = message;
                await app.StopAsync().ConfigureAwait(false);
            }

            if (failure is null)
            {
                await app.WaitForShutdownAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            var disposal = app.DisposeAsync().AsTask();
            if (await Task.WhenAny(disposal, Task.Delay(DisposeBound)).ConfigureAwait(false) == disposal)
            {
                await disposal.ConfigureAwait(false);
            }
            else
            {
                // What is left ends with the process; the jobs a worker could not hand back are taken
                // up after their lease.
                await Console.Error.WriteLineAsync(
                    $"The service stopped; disposing it did not end within {DisposeBound.TotalSeconds:0} s (Redis not answering?): exiting without waiting.").ConfigureAwait(false);
            }
        }

        if (failure is null)
        {
            return Environment.ExitCode;
        }

        // After the host's disposal, which flushes its console logger's queue: the last line written.
        Console.Error.WriteLine(failure);
        return 1;
    }

    /// <summary>Kestrel's own message ("Failed to bind to address …: address already in use."), or null.</summary>
    private static string? BindFailure(Exception e, string addresses) => e switch
    {
        IOException { InnerException: AddressInUseException } => e.Message,
        // Thrown as is, without the address: named from the addresses the service was given.
        SocketException { SocketErrorCode: SocketError.AddressNotAvailable } =>
            $"Failed to bind to address {addresses}: {e.Message.ToLowerInvariant()} (not an address of this machine).",
        _ => null,
    };
}
