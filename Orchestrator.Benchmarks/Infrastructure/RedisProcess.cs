using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// The suite's own <c>redis-server</c> on a free loopback port, with no persistence (no RDB
/// snapshots, no AOF): the figures measure the job system, not the disk.
/// </summary>
internal sealed class RedisProcess : IAsyncDisposable
{
    private readonly Process _process;

    private RedisProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public int ProcessId => _process.Id;

    public static async Task<RedisProcess> StartAsync()
    {
        var port = FreePort.Next();
        var startInfo = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning" })
        {
            startInfo.ArgumentList.Add(arg);
        }

        var process = Process.Start(startInfo) ?? throw new InvalidOperationException("redis-server did not start (is it on PATH?).");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var redis = new RedisProcess(process, port);

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
                await connection.GetDatabase().PingAsync();
                return redis;
            }
            catch (RedisConnectionException) when (deadline.Elapsed < TimeSpan.FromSeconds(15) && !process.HasExited)
            {
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
