using Microsoft.Extensions.Time.Testing;
using Orchestrator.UnitTests.Worker;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>
/// <see cref="ReceiverCircuits"/>: a receiver's circuit opens after its failures in a row, sends
/// nothing for the break, lets one probe through, and closes on a 2xx; other receivers are not
/// touched; a fake clock moves the break.
/// </summary>
public sealed class ReceiverCircuitsTests
{
    private const string Hanging = "https://hanging.example";
    private const string Healthy = "https://healthy.example";
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _clock = new();
    private readonly ReceiverCircuits _circuits;

    public ReceiverCircuitsTests() => _circuits = new ReceiverCircuits(failures: 3, Break, _clock);

    [Fact]
    public void FailuresInARow_OpenIt_ForTheBreak_OtherReceiversStillSend()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.True(_circuits.TryEnter(Hanging).Go);
            _circuits.Record(Hanging, delivered: false, $"no answer {i}");
        }

        _clock.Advance(TimeSpan.FromSeconds(10));
        var refused = _circuits.TryEnter(Hanging);
        Assert.Equal((false, TimeSpan.FromSeconds(20), 3, "no answer 2"), (refused.Go, refused.OpenFor, refused.Failures, refused.LastError));
        Assert.True(_circuits.TryEnter(Healthy).Go);
    }

    [Fact]
    public void ADeliveryBetweenFailures_StartsTheCountAgain()
    {
        _circuits.Record(Hanging, delivered: false, "HTTP 503");
        _circuits.Record(Hanging, delivered: false, "HTTP 503");
        _circuits.Record(Hanging, delivered: true, null);
        _circuits.Record(Hanging, delivered: false, "HTTP 503");
        _circuits.Record(Hanging, delivered: false, "HTTP 503");

        Assert.True(_circuits.TryEnter(Hanging).Go);
        Assert.Equal(1, _circuits.Count);
    }

    [Fact]
    public void AfterTheBreak_OneProbeAtATime_AFailedProbeOpensItAgain_ADeliveredOneClosesIt()
    {
        Open();
        _clock.Advance(Break);

        var probe = _circuits.TryEnter(Hanging);
        Assert.Equal((true, true), (probe.Go, probe.Probe));
        var second = _circuits.TryEnter(Hanging);
        Assert.Equal((false, TimeSpan.Zero), (second.Go, second.OpenFor));

        _circuits.Record(Hanging, delivered: false, "still no answer");
        Assert.Equal(Break, _circuits.TryEnter(Hanging).OpenFor);

        _clock.Advance(Break);
        Assert.True(_circuits.TryEnter(Hanging).Probe);
        _circuits.Record(Hanging, delivered: true, null);
        Assert.Equal(CircuitEntry.Closed, _circuits.TryEnter(Hanging));
        Assert.Equal(0, _circuits.Count);
    }

    [Fact]
    public void AnAbandonedProbe_LetsTheNextDeliveryProbe()
    {
        Open();
        _clock.Advance(Break);
        Assert.True(_circuits.TryEnter(Hanging).Probe);

        _circuits.Abandon(Hanging);

        Assert.True(_circuits.TryEnter(Hanging).Probe);
    }

    [Fact]
    public void ZeroFailures_NeverOpens()
    {
        var never = new ReceiverCircuits(failures: 0, Break, _clock);
        for (var i = 0; i < 10; i++)
        {
            never.Record(Hanging, delivered: false, "no answer");
        }

        Assert.True(never.TryEnter(Hanging).Go);
        Assert.Equal(0, never.Count);
    }

    [Fact]
    public void AFullTable_DropsTheReceiversNotOpen_SoANewReceiverStillOpens()
    {
        // Receivers that failed once and were never sent to again, enough to fill the table.
        for (var i = 0; i < ReceiverCircuits.MaxTracked; i++)
        {
            _circuits.Record($"https://once-{i}.example", delivered: false, "HTTP 500");
        }

        Open();

        Assert.False(_circuits.TryEnter(Hanging).Go);
        Assert.Equal(1, _circuits.Count);
    }

    [Theory]
    [InlineData(-600)]
    [InlineData(600)]
    public void AStepOfTheHostsClock_NeitherLengthensNorEndsTheBreak(int seconds)
    {
        var host = new SteppedWallClock();
        var circuits = new ReceiverCircuits(failures: 3, Break, host);
        for (var i = 0; i < 3; i++)
        {
            circuits.Record(Hanging, delivered: false, "no answer");
        }

        host.Step = TimeSpan.FromSeconds(seconds);
        host.Fake.Advance(Break - TimeSpan.FromSeconds(1));
        Assert.Equal((false, TimeSpan.FromSeconds(1)), (circuits.TryEnter(Hanging).Go, circuits.TryEnter(Hanging).OpenFor));

        host.Fake.Advance(TimeSpan.FromSeconds(1));
        Assert.True(circuits.TryEnter(Hanging).Probe);
    }

    [Theory]
    [InlineData("https://hooks.example.com/a/b?c=d", "https://hooks.example.com")]
    [InlineData("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080")]
    [InlineData("https://Hooks.Example.com:443/x", "https://hooks.example.com")]
    public void AReceiver_IsItsSchemeHostAndPort(string url, string receiver) =>
        Assert.Equal(receiver, ReceiverCircuits.Of(url));

    private void Open()
    {
        for (var i = 0; i < 3; i++)
        {
            _circuits.Record(Hanging, delivered: false, "no answer");
        }
    }
}
