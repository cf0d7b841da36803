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
    /// Runs <paramref name="app"/> until it stops; returns the exit code: <see cref="Environment.ExitCode"/>
    /// (set by a guard that stopped the service), or 1 when an address could not be bound.
    /// </summary>
    public static async Task<int> RunUntilStoppedAsync(this WebApplication app)
    {
        string? failure = null;
        await using (app.ConfigureAwait(false))
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
