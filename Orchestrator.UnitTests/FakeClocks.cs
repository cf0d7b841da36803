using Microsoft.Extensions.Time.Testing;

namespace Orchestrator.UnitTests;

/// <summary>Moving a <see cref="FakeTimeProvider"/> on for code that waits on it in the background.</summary>
internal static class FakeClocks
{
    /// <summary>
    /// Moves <paramref name="time"/> on by <paramref name="step"/> until <paramref name="run"/> ends,
    /// however slowly its continuations run, for at most 10 s of real time (a fixed number of moves
    /// gave a busy machine too little).
    /// </summary>
    public static async Task AdvanceUntilDoneAsync(FakeTimeProvider time, Task run, TimeSpan step)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        while (!run.IsCompleted && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            time.Advance(step);
            await Task.WhenAny(run, Task.Delay(1, TestContext.Current.CancellationToken));
        }
    }
}
