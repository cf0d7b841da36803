using System.Diagnostics;
using Xunit;

namespace Orchestrator.Testing;

/// <summary>Bounded polling for integration tests: every wait has a timeout and says what it waited for.</summary>
public static class AsyncWait
{
    /// <summary>The pause between two polls unless a test asks for another.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Polls <paramref name="condition"/> until it returns <see langword="true"/>; fails the test
    /// with "Timed out after … waiting until <paramref name="because"/>" when
    /// <paramref name="timeout"/> passes first. Exceptions from the condition propagate.
    /// </summary>
    /// <param name="condition">The check, run once per poll.</param>
    /// <param name="timeout">The longest time to wait, in wall-clock time.</param>
    /// <param name="because">What is awaited, worded to follow "waiting until".</param>
    /// <param name="pollInterval">The pause between polls; <see cref="DefaultPollInterval"/> if not given.</param>
    public static async Task WaitUntilAsync(
        Func<Task<bool>> condition, TimeSpan timeout, string because, TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var cancellationToken = TestContext.Current.CancellationToken;
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (await condition())
            {
                return;
            }

            if (stopwatch.Elapsed >= timeout)
            {
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0.#} s waiting until {because}.");
            }

            await Task.Delay(pollInterval ?? DefaultPollInterval, cancellationToken);
        }
    }

    /// <inheritdoc cref="WaitUntilAsync(Func{Task{bool}}, TimeSpan, string, TimeSpan?)"/>
    public static Task WaitUntilAsync(
        Func<bool> condition, TimeSpan timeout, string because, TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return WaitUntilAsync(() => Task.FromResult(condition()), timeout, because, pollInterval);
    }

    /// <summary>
    /// Polls <paramref name="condition"/> every 100 ms until it returns <see langword="true"/>; throws
    /// <see cref="TimeoutException"/> ("Timed out after … waiting until <paramref name="because"/>.",
    /// then what <paramref name="describe"/> says of the processes) when <paramref name="timeout"/>
    /// passes first. For the launchers the chaos run and the benchmarks share: no test context there.
    /// </summary>
    public static async Task UntilAsync(
        Func<Task<bool>> condition, TimeSpan timeout, string because, Func<Task<string>> describe, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(describe);
        var stopwatch = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (stopwatch.Elapsed > timeout)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting until {because}.{Environment.NewLine}{await describe().ConfigureAwait(false)}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }
}
