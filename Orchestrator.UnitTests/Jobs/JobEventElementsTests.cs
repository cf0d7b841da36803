using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

public sealed class JobEventElementsTests
{
    [Fact]
    public void Parse_EachShape_ReadsItsValues_TheDeltaTextWhole()
    {
        Assert.Equal(new JobEvent("7", JobEvent.StatusType, "retrying", 2, DateTimeOffset.FromUnixTimeMilliseconds(1700000000123), null),
            JobEventElements.Parse("7", "status retrying 2 1700000000123"));
        Assert.Equal(new JobEvent("8", JobEvent.Delta, null, 3, null, " two  spaces,\na line break "),
            JobEventElements.Parse("8", "delta 3  two  spaces,\na line break "));
        Assert.Equal(new JobEvent("9", JobEvent.Delta, null, 1, null, string.Empty), JobEventElements.Parse("9", "delta 1 "));
        Assert.Equal(new JobEvent("10", JobEvent.Done, "dead", null, null, null), JobEventElements.Parse("10", "done dead"));
    }

    [Theory]
    [InlineData("0", true)]
    [InlineData("1009", true)]
    [InlineData("1700000000000-0", true)]
    [InlineData("1700000000000-12", true)]
    [InlineData("", false)]
    [InlineData("-1", false)]
    [InlineData("12-", false)]
    [InlineData("1.5", false)]
    [InlineData("abc", false)]
    [InlineData(" 12", false)]
    [InlineData("99999999999999999999999", false)]
    [InlineData("9007199254740991", true)]
    [InlineData("9007199254740991-9007199254740991", true)]
    [InlineData("9007199254740992", false)]
    [InlineData("100000000000000000", false)]
    [InlineData("18446744073709551615", false)]
    [InlineData("18446744073709551615-18446744073709551615", false)]
    [InlineData("1700000000000-18446744073709551615", false)]
    public void IsEventId_AnEventNumberOrAStreamEntryId(string id, bool valid) =>
        Assert.Equal(valid, JobStore.IsEventId(id));
}
