namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>Waiting for a service process to answer <c>/health</c>, or failing with its output if it exits first.</summary>
internal static class ServiceHealth
{
    public static async Task WaitAsync(ChildProcess process, Uri address, TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        await AsyncWait.WaitUntilAsync(async () =>
        {
            if (process.HasExited)
            {
                Assert.Fail($"{process.Name} exited with code {process.ExitCode} before it answered /health:{Environment.NewLine}{process.Tail()}");
            }

            try
            {
                using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken);
                return response.IsSuccessStatusCode;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !TestContext.Current.CancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }, timeout, $"{process.Name} answers /health", TimeSpan.FromMilliseconds(200));
    }
}
