using Microsoft.Extensions.Time.Testing;
using Orchestrator.UnitTests.Worker;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>
/// <see cref="PutBackPacer"/>: deliveries put back for a full share come due one after another, a
/// try's time ÷ the share's slots apart (a first guess until a try is timed, then a running
/// average), never more than the longest wait (<c>Webhooks:PollInterval</c>); an idle sender waits
/// for the next of them; a full table makes room from the lines that have come due.
/// </summary>
public sealed class PutBackPacerTests
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public void PutBack_LinesUpAShare_ATriesTimeOverItsSlotsApart_AtFirstGuessed()
    {
        var pacer = new PutBackPacer(Poll, _clock);
        var spacing = PutBackPacer.FirstGuess / 2;

        Assert.Equal([spacing, spacing * 2, spacing * 3], [pacer.PutBack("receiver a", 2), pacer.PutBack("receiver a", 2), pacer.PutBack("receiver a", 2)]);
        // Another share has its own line.
        Assert.Equal(PutBackPacer.FirstGuess / 4, pacer.PutBack("receiver b", 4));

        // Time passes: the line is counted from now once its last place is past.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(spacing, pacer.PutBack("receiver a", 2));
    }

    [Fact]
    public void AStepOfTheHostsClockBack_DoesNotPushALineToTheLongestWait()
    {
        var host = new SteppedWallClock();
        var pacer = new PutBackPacer(Poll, host);
        pacer.PutBack("receiver a", 2);

        host.Step = TimeSpan.FromMinutes(-10);
        host.Fake.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(PutBackPacer.FirstGuess / 2, pacer.PutBack("receiver a", 2));
    }

    [Fact]
    public void Sent_SetsTheSpacing_FirstTheTryTimed_ThenARunningAverage()
    {
        var pacer = new PutBackPacer(Poll, _clock);
        pacer.PutBack("receiver a", 2);
        _clock.Advance(TimeSpan.FromSeconds(1));

        pacer.Sent("receiver a", TimeSpan.FromMilliseconds(4));
        Assert.Equal(TimeSpan.FromMilliseconds(2), pacer.PutBack("receiver a", 2));

        // (3 × 4 ms + 12 ms) / 4 = 6 ms a try: 3 ms apart, after the 2 ms place just taken.
        pacer.Sent("receiver a", TimeSpan.FromMilliseconds(12));
        Assert.Equal(TimeSpan.FromMilliseconds(5), pacer.PutBack("receiver a", 2));

        // A share with no line is not tracked.
        pacer.Sent("receiver z", TimeSpan.FromSeconds(3));
        Assert.Equal(1, pacer.Count);
    }

    [Fact]
    public void PutBack_WaitsAtMostTheLongest_AndALongLineDoesNotOutlastIt()
    {
        var pacer = new PutBackPacer(Poll, _clock);
        pacer.PutBack("receiver hanging", 2);
        pacer.Sent("receiver hanging", TimeSpan.FromSeconds(15));

        for (var i = 0; i < 100; i++)
        {
            Assert.InRange(pacer.PutBack("receiver hanging", 2), TimeSpan.Zero, Poll);
        }

        // One poll later the line starts again from now, not 100 places on.
        _clock.Advance(Poll);
        Assert.Equal(Poll, pacer.PutBack("receiver hanging", 2));
        // The receiver answers fast again: as its tries are timed, its line shortens.
        _clock.Advance(Poll);
        for (var i = 0; i < 20; i++)
        {
            pacer.Sent("receiver hanging", TimeSpan.FromMilliseconds(1));
        }

        Assert.InRange(pacer.PutBack("receiver hanging", 2), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void NextDue_IsTheShortestSpacingOfALineAhead_ElseTheLongest_AtLeastAMillisecond()
    {
        var pacer = new PutBackPacer(Poll, _clock);
        Assert.Equal(Poll, pacer.NextDue(Poll));

        pacer.PutBack("receiver a", 2);
        Assert.Equal(PutBackPacer.FirstGuess / 2, pacer.NextDue(Poll));

        pacer.Sent("receiver a", TimeSpan.FromMicroseconds(100));
        pacer.PutBack("receiver a", 2);
        Assert.Equal(TimeSpan.FromMilliseconds(1), pacer.NextDue(Poll));

        // Every line's places past: an idle sender polls.
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(Poll, pacer.NextDue(Poll));
    }

    [Fact]
    public void AFullTable_MakesRoomFromLinesThatCameDue_ElseANewShareWaitsTheLongest()
    {
        var pacer = new PutBackPacer(Poll, _clock);
        for (var i = 0; i < PutBackPacer.MaxTracked; i++)
        {
            pacer.PutBack($"receiver {i}", 1);
        }

        Assert.Equal(Poll, pacer.PutBack("receiver new", 1));
        Assert.Equal(PutBackPacer.MaxTracked, pacer.Count);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(PutBackPacer.FirstGuess, pacer.PutBack("receiver new", 1));
        Assert.Equal(1, pacer.Count);
    }
}
