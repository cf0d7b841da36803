using Microsoft.Extensions.Hosting;

namespace Orchestrator.UnitTests.Hosting;

public sealed class ListenAddressesTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5000")]
    [InlineData("https://localhost:7001")]
    [InlineData("http://[::1]:0")]
    [InlineData("http://*:8080")]
    [InlineData("http://+:8080")]
    [InlineData("http://0.0.0.0:65535")]
    [InlineData("http://localhost")]
    [InlineData("http://api.internal:5000/")]
    [InlineData("http://unix:/run/orchestrator.sock")]
    public void IsReadable_AnAddressKestrelReadsAsWritten_True(string address) =>
        Assert.True(ListenAddresses.IsReadable(address));

    [Theory]
    // Kestrel took each of these for a host name on port 80 of every interface.
    [InlineData("http://127.0.0.1:5OOO")]
    [InlineData("http://localhost:50 00")]
    [InlineData("http://127.0.0.1:")]
    [InlineData("http://127.0.0.1:70000")]
    [InlineData("http://127.0.0.1:-1")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("http:/127.0.0.1:5000")]
    [InlineData("http:127.0.0.1:5000")]
    [InlineData("ftp://127.0.0.1:21")]
    [InlineData("http://127.0.0.1:5000?x=1")]
    public void IsReadable_AnAddressKestrelMisreads_False(string address) =>
        Assert.False(ListenAddresses.IsReadable(address));
}
