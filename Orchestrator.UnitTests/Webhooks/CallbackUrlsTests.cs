using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>The form of a <c>callbackUrl</c> and the address check of literal hosts (no DNS needed).</summary>
public sealed class CallbackUrlsTests
{
    [Theory]
    [InlineData("https://hooks.example.com/orchestrator")]
    [InlineData("https://hooks.example.com:8443/a?b=c")]
    public void FormProblem_HttpsAbsolute_IsAccepted(string url) =>
        Assert.Null(CallbackUrls.FormProblem(url, allowPrivateNetworks: false));

    [Theory]
    [InlineData("http://hooks.example.com/")]
    [InlineData("ftp://hooks.example.com/")]
    [InlineData("/relative")]
    [InlineData("hooks.example.com")]
    [InlineData("https://user:secret@hooks.example.com/")]
    // Accepted before an outside audit: port 0 (every delivery failed), and edge spaces kept in the stored URL.
    [InlineData("https://8.8.8.8:0/")]
    [InlineData("https://hooks.example.com:0/x")]
    [InlineData(" https://hooks.example.com/x ")]
    [InlineData("https://hooks.example.com/x\t")]
    public void FormProblem_NotHttpsAbsolute_IsRefused(string url) =>
        Assert.NotNull(CallbackUrls.FormProblem(url, allowPrivateNetworks: false));

    [Fact]
    public void FormProblem_Http_IsAcceptedWithPrivateNetworksAllowed() =>
        Assert.Null(CallbackUrls.FormProblem("http://127.0.0.1:5000/hooks", allowPrivateNetworks: true));

    [Fact]
    public void FormProblem_TooLong_IsRefused() =>
        Assert.NotNull(CallbackUrls.FormProblem("https://example.com/" + new string('a', WebhookOptions.MaxUrlLength), allowPrivateNetworks: false));

    [Theory]
    [InlineData("https://127.0.0.1/")]
    [InlineData("https://[::1]/")]
    [InlineData("https://[fe80::1]/")]
    [InlineData("https://169.254.169.254/")]
    public async Task AddressProblem_LiteralNotPublic_IsRefused(string url) =>
        Assert.NotNull(await CallbackUrls.AddressProblemAsync(new Uri(url), allowPrivateNetworks: false, TestContext.Current.CancellationToken));

    [Fact]
    public async Task AddressProblem_LiteralPublic_IsAccepted() =>
        Assert.Null(await CallbackUrls.AddressProblemAsync(new Uri("https://1.1.1.1/"), allowPrivateNetworks: false, TestContext.Current.CancellationToken));

    [Fact]
    public async Task AddressProblem_Loopback_IsAcceptedWithPrivateNetworksAllowed() =>
        Assert.Null(await CallbackUrls.AddressProblemAsync(new Uri("http://127.0.0.1/"), allowPrivateNetworks: true, TestContext.Current.CancellationToken));
}
