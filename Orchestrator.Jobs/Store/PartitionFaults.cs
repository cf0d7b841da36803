using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Orchestrator.Jobs;

/// <summary>
/// The partitions whose last call failed for a reason Redis may mend (a master down or frozen, its
/// slot moving, a cluster electing): a sweep over the partitions passes each of them by, so that one
/// partition no master can serve does not stop the others' jobs (an outside audit: a dispatch that
/// met it threw, was sent again in the same order, and no job of any partition started until it was
/// back; the jobs claimed before it were held, not run). Once its wait is over (1 s, doubling up to
/// 10 s) the partition is asked in the background, by a read that changes nothing; when that is
/// answered, the next sweep asks it again.
/// </summary>
internal sealed class PartitionFaults(TimeProvider time)
{
    /// <summary>The wait after a first failure.</summary>
    internal static readonly TimeSpan FirstWait = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait: a partition down for long is asked this often.</summary>
    internal static readonly TimeSpan LongestWait = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<int, Fault> _faults = new();
    private readonly ConcurrentDictionary<int, byte> _probing = new();

    /// <summary>Whether any partition is failing.</summary>
    public bool Any => !_faults.IsEmpty;

    /// <summary>
    /// Whether a sweep passes <paramref name="partition"/> by: it is failing. Its wait over, it is
    /// asked by <paramref name="probe"/> in the background (one at a time).
    /// </summary>
    /// <param name="cause">What the partition's last call failed with.</param>
    public bool PassBy(int partition, Func<Task> probe, [NotNullWhen(true)] out Exception? cause)
    {
        if (!_faults.TryGetValue(partition, out var fault))
        {
            cause = null;
            return false;
        }

        cause = fault.Cause;

        if (time.GetUtcNow() >= fault.AskAgainAt && _probing.TryAdd(partition, 0))
        {
            _ = ProbeAsync(partition, probe);
        }

        return true;
    }

    /// <summary>A call to <paramref name="partition"/> failed with <paramref name="cause"/>: passed by for a wait twice the last (the first 1 s).</summary>
    public void Failed(int partition, Exception cause)
    {
        var now = time.GetUtcNow();
        _faults.AddOrUpdate(
            partition,
            _ => new Fault(now + FirstWait, FirstWait, cause),
            (_, last) =>
            {
                var wait = last.Wait * 2 < LongestWait ? last.Wait * 2 : LongestWait;
                return new Fault(now + wait, wait, cause);
            });
    }

    /// <summary>A call to <paramref name="partition"/> was answered.</summary>
    public void Answered(int partition) => _faults.TryRemove(partition, out _);

    private async Task ProbeAsync(int partition, Func<Task> probe)
    {
        try
        {
            await probe().ConfigureAwait(false);
            Answered(partition);
        }
        catch (Exception e)
        {
            // Whatever it was, the partition is still not to be asked: a longer wait.
            Failed(partition, e);
        }
        finally
        {
            _probing.TryRemove(partition, out _);
        }
    }

    private sealed record Fault(DateTimeOffset AskAgainAt, TimeSpan Wait, Exception Cause);
}
