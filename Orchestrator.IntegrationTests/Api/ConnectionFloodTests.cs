using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// A flood of idle connections, with no key, against the real API process under a small open-file
/// limit (<c>prlimit</c>, as a deployment's <c>LimitNOFILE</c>): Kestrel holds no more connections than
/// that limit allows (<see cref="ConnectionLimit"/>), so the process lives and answers once the flood
/// goes. Unbounded, the descriptors ran out, Kestrel's accept loop spun on the failing accept and the
/// runtime aborted ("Out of memory.": an outside audit's 20,000 connections at a limit of 20,000).
/// </summary>
public sealed class ConnectionFloodTests
{
    private const int MaxFlood = 2_500;

    [Fact]
    public async Task IdleConnectionsPastTheOpenFileLimit_TheApiLives_AndAnswersOnceTheyGo()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // The flood's sockets are this process's descriptors too, beside every other test's: it floods
        // with at most half of what this process has left (2,500 where the limit is 20,000), and gives
        // the API an open-file limit a fifth below the flood, so the flood always goes past it.
        var left = (ConnectionLimit.OpenFileLimit() ?? 20_000) - Directory.GetFiles("/proc/self/fd").Length;
        var floodSize = (int)Math.Min(MaxFlood, left / 2);
        var openFiles = floodSize * 4 / 5;
        Assert.True(openFiles >= 1_000, $"this process has {left} descriptors left: too few to flood an API past its open-file limit");
        await using var redis = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        var port = LoopbackPort.Next();
        var address = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var options = ServiceProcess.Options("api", ApiProcess.AssemblyPath, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        });
        await using var api = ChildProcess.Start(options with
        {
            FileName = "prlimit",
            Arguments = [$"--nofile={openFiles}:{openFiles}", options.FileName, .. options.Arguments],
        });
        await ServiceHealth.WaitAsync(api, address, ApiProcess.StartTimeout);

        var flood = new List<Socket>();
        try
        {
            // Requests that never end their headers, as a slow client's.
            var partial = Encoding.ASCII.GetBytes("GET /jobs HTTP/1.1\r\nHost: x\r\n");
            for (var i = 0; i < floodSize; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                flood.Add(socket);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                    await socket.SendAsync(partial, SocketFlags.None, cancellationToken);
                }
                catch (SocketException) when (!api.HasExited)
                {
                    // Closed at once by the API: it holds as many as it may.
                }
                catch (SocketException)
                {
                    break;
                }
            }

            // Past its limit of descriptors with connections alone, the API held them 2 s and lives.
            var held = System.Diagnostics.Stopwatch.StartNew();
            await AsyncWait.WaitUntilAsync(() => api.HasExited || held.Elapsed > TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), "2 s of the flood");
            Assert.False(api.HasExited, $"the API died under the flood{Environment.NewLine}{api.Tail()}");
        }
        finally
        {
            foreach (var socket in flood)
            {
                socket.Dispose();
            }
        }

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        await AsyncWait.WaitUntilAsync(async () =>
        {
            try
            {
                return (await client.GetAsync("/health", cancellationToken)).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the API answers /health once the flood is gone", TimeSpan.FromMilliseconds(200));
        Assert.False(api.HasExited);
    }
}
