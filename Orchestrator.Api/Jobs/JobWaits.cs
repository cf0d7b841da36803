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
    /// How soon a wait reads the job again after Redis failed a read for a moment: the event that
    /// woke it may have been spent on the failed read.
    /// </summary>
    internal static readonly TimeSpan ReadRetryPause = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// The job once it is final, or as it is when <paramref name="timeout"/> has passed or the host stops; null when it
    /// disappeared (expired) meanwhile. The job is read again at once: when <paramref name="listener"/>
    /// was opened after <paramref name="current"/> was read (GET ?wait=), a change in between is seen;
    /// when before (a cancel's wait), that read only repeats the caller's. A read that Redis fails for a moment (a reset, a failover, a refusal) does
    /// not end the wait: it reads again after <see cref="ReadRetryPause"/>, and only a read still
    /// failing when the time is up is the answer (503), not one failing a second into a minute's wait.
    /// </summary>
    public static async Task<Job?> UntilFinalAsync(
        JobStore store, JobListener listener, Job current, TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var started = timeProvider.GetTimestamp();
        TimeSpan Left() => timeout - timeProvider.GetElapsedTime(started);
        var job = current;
        while (true)
        {
            var failed = false;
            try
            {
                // Bounded by the time left: a Redis that does not answer (paused, a failover) held the
                // answer for its command timeout past the wait's end. When the host stops, by a moment.
                var bound = Left() > ReadRetryPause && !listener.HostStopping ? Left() : ReadRetryPause;
                if (await RedisReply.WithinAsync(store.GetAsync(job.Id), bound, timeProvider).ConfigureAwait(false) is not { } read)
                {
                    return null;
                }

                job = read;
            }
            catch (Exception e) when (RedisFailure.IsTransient(e) && listener.HostStopping)
            {
                // The host stops: answered at once with the job as last read, not a 503 after Redis's
                // timeout (an audit: 1,000 waits answered 503 up to 3.95 s after SIGTERM, Redis paused).
                return job;
            }
            catch (Exception e) when (RedisFailure.IsTransient(e) && Left() > TimeSpan.Zero && !cancellationToken.IsCancellationRequested)
            {
                failed = true;
            }

            // Its non-final changes do not wake a wait: timed out, or the host stops, it answers with
            // the state just read.
            if (!failed && (JobStatus.IsTerminal(job.Status) || Left() <= TimeSpan.Zero || listener.HostStopping))
            {
                return job;
            }

            var left = Left();
            await listener.WaitAsync(failed && left > ReadRetryPause ? ReadRetryPause : left, timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }
}
