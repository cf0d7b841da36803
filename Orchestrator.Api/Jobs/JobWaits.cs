using System.Globalization;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>Waiting for a job to become final, woken by <see cref="JobNotifications"/> (never by polling Redis).</summary>
internal static class JobWaits
{
    /// <summary>The longest <c>?wait=</c>, in seconds.</summary>
    public const int MaxWaitSeconds = 60;

    /// <summary>Reads <c>?wait=</c>: seconds from 0 to 60, a decimal number ("0.5").</summary>
    public static bool TryParse(string text, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
            || !double.IsFinite(seconds) || seconds > MaxWaitSeconds)
        {
            return false;
        }

        wait = TimeSpan.FromSeconds(seconds);
        return true;
    }

    /// <summary>
    /// The job once it is final, or as it is when <paramref name="timeout"/> has passed or the host stops; null when it
    /// disappeared (expired) meanwhile. <paramref name="listener"/> must have been opened before
    /// <paramref name="current"/> was read, so that a change in between still wakes this wait.
    /// </summary>
    public static async Task<Job?> UntilFinalAsync(
        JobStore store, JobListener listener, Job current, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var started = timeProvider.GetTimestamp();
        var job = current;
        while (!JobStatus.IsTerminal(job.Status))
        {
            var left = timeout - timeProvider.GetElapsedTime(started);
            var woken = await listener.WaitAsync(left, timeProvider, cancellationToken).ConfigureAwait(false);
            // Woken: look again. Timed out, or the host stops: answer with the state as it is now (its
            // non-final changes do not wake a wait), so read once more either way.
            if (await store.GetAsync(job.Id).ConfigureAwait(false) is not { } read)
            {
                return null;
            }

            job = read;
            if (!woken)
            {
                break;
            }
        }

        return job;
    }
}
