using Xunit;

namespace Orchestrator.Testing;

/// <summary>Waiting for a service process to answer <c>/health</c>, or failing with its output if it exits first.</summary>
public static class ServiceHealth
{
    /// <summary>Waits until <paramref name="address"/> answers <c>/health</c> with a success status, at most <paramref name="timeout"/>.</summary>
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
