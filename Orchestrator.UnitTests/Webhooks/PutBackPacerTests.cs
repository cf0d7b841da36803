using Microsoft.Extensions.Time.Testing;
using Orchestrator.UnitTests.Worker;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>
/// <see cref="PutBackPacer"/>: deliveries put back for a full share come due one after another, a
/// try's time ÷ the share's slots apart (until a try is timed, a first guess or the line's age if
/// longer, up to <c>Webhooks:RequestTimeout</c>; then a running average), never more than one try's
/// time (up to five polls) or a poll (<c>Webhooks:PollInterval</c>) ahead, whichever is longer; an idle
/// sender waits for the next of them; a full table makes room from the lines that have come due.
/// </summary>
public sealed class PutBackPacerTests
{
    private static readonly TimeSpan Poll = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);
    private readonly FakeTimeProvider _clock = new();

    [Fact]
    public void PutBack_LinesUpAShare_ATriesTimeOverItsSlotsApart_AtFirstGuessed()
    {
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
        var spacing = PutBackPacer.FirstGuess / 2;

        Assert.Equal([spacing, spacing * 2, spacing * 3], [pacer.PutBack("receiver a", 2), pacer.PutBack("receiver a", 2), pacer.PutBack("receiver a", 2)]);
        // Another share has its own line.
        Assert.Equal(PutBackPacer.FirstGuess / 4, pacer.PutBack("receiver b", 4));

        // A try ends: the line is counted from now once its last place is past.
        pacer.Sent("receiver a", PutBackPacer.FirstGuess);
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(spacing, pacer.PutBack("receiver a", 2));
    }

    [Fact]
    public void AStepOfTheHostsClockBack_DoesNotPushALineToTheLongestWait()
    {
        var host = new SteppedWallClock();
        var pacer = new PutBackPacer(Poll, RequestTimeout, host);
        pacer.PutBack("receiver a", 2);

        host.Step = TimeSpan.FromMinutes(-10);
        host.Fake.Advance(TimeSpan.FromSeconds(1));

        // The line is a second old, none of its tries ended: a try takes a second so far, half of it apart.
        Assert.Equal(TimeSpan.FromSeconds(0.5), pacer.PutBack("receiver a", 2));
    }

    [Fact]
    public void Sent_SetsTheSpacing_FirstTheTryTimed_ThenARunningAverage()
    {
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
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
    public void PutBack_WaitsAtMostATry_UpToFivePolls_AndALongLineDoesNotOutlastIt()
    {
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
        var longest = Poll * PutBackPacer.LongestFactor;
        pacer.PutBack("receiver hanging", 2);
        pacer.Sent("receiver hanging", RequestTimeout);

        // A try takes 15 s, two slots: 7.5 s apart, none more than five polls ahead (a poll was the
        // bound: a backlog to a receiver that hangs was leased and put back whole every poll; a whole
        // try kept a receiver that recovered waiting for its backlog).
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(longest, pacer.PutBack("receiver hanging", 2));
        }

        // Five polls later the line starts again from now, not 100 places on.
        _clock.Advance(longest);
        Assert.Equal(longest, pacer.PutBack("receiver hanging", 2));
        // The receiver answers fast again: as its tries are timed, a delivery put back waits a poll at most.
        _clock.Advance(longest);
        for (var i = 0; i < 20; i++)
        {
            pacer.Sent("receiver hanging", TimeSpan.FromMilliseconds(1));
        }

        Assert.InRange(pacer.PutBack("receiver hanging", 2), TimeSpan.FromMilliseconds(1), Poll);
        _clock.Advance(longest);
        Assert.InRange(pacer.PutBack("receiver hanging", 2), TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void ALineNoneOfWhoseTriesEnded_SpacesByItsAge_UpToTheRequestTimeout()
    {
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
        Assert.Equal(PutBackPacer.FirstGuess, pacer.PutBack("receiver hanging", 1));

        // Two seconds and no try of the share has ended: it takes two at least, and none waits more than that.
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.PutBack("receiver hanging", 1));
        Assert.Equal(TimeSpan.FromSeconds(2), pacer.PutBack("receiver hanging", 1));

        // No try outlasts Webhooks:RequestTimeout, nor does the guess; the wait stays at five polls.
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(Poll * PutBackPacer.LongestFactor, pacer.PutBack("receiver hanging", 1));
    }

    [Fact]
    public void NextDue_IsTheShortestSpacingOfALineAhead_ElseTheLongest_AtLeastAMillisecond()
    {
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
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
        var pacer = new PutBackPacer(Poll, RequestTimeout, _clock);
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
