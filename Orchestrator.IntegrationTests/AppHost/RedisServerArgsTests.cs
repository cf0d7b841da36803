using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// The arguments the AppHost gives the Redis it starts, read from its application model (no
/// container runtime is needed): an append-only file and no RDB snapshots, and a memory bound
/// with <c>noeviction</c>, in container mode as in local mode.
/// </summary>
public sealed class RedisServerArgsTests
{
    [Fact]
    public async Task ContainerMode_AppendOnlyNoSnapshotsMaxMemory1gbNoEviction()
    {
        var (redis, args) = await RedisArgsAsync("--Redis:Mode=container");

        var container = Assert.IsType<RedisResource>(redis);
        // The arguments become one shell command line, so the empty --save value is the shell's ''.
        // Pinned here (an evaluation API of Aspire's): if this changes, so must RedisServerArgs.
#pragma warning disable ASPIRECONTAINERSHELLEXECUTION001
        Assert.True(container.ShellExecution);
#pragma warning restore ASPIRECONTAINERSHELLEXECUTION001
        Assert.Equal("redis-server", args[0]);
        Assert.Equal("yes", ValueOf(args, "--appendonly"));
        Assert.Equal("everysec", ValueOf(args, "--appendfsync"));
        Assert.Equal("''", ValueOf(args, "--save"));
        Assert.Equal("1gb", ValueOf(args, "--maxmemory"));
        Assert.Equal("noeviction", ValueOf(args, "--maxmemory-policy"));
        Assert.Contains(container.Annotations.OfType<ContainerMountAnnotation>(), m => m.Target == "/data" && !m.IsReadOnly);
    }

    [Fact]
    public async Task LocalMode_AppendOnlyNoSnapshotsConfiguredMaxMemoryNoEviction()
    {
        var (redis, args) = await RedisArgsAsync("--Redis:Mode=local", "--Redis:MaxMemory=256MB",
            $"--Redis:DataPath={Path.Combine(Path.GetTempPath(), "orchestrator-args-test")}");

        Assert.IsNotType<RedisResource>(redis);
        Assert.Equal("yes", ValueOf(args, "--appendonly"));
        Assert.Equal("everysec", ValueOf(args, "--appendfsync"));
        Assert.Equal("", ValueOf(args, "--save"));
        Assert.Equal("256mb", ValueOf(args, "--maxmemory"));
        Assert.Equal("noeviction", ValueOf(args, "--maxmemory-policy"));
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("0")]
    [InlineData("-1gb")]
    [InlineData("1tb")]
    public async Task InvalidMaxMemory_FailsNamingTheSetting(string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(
                ["--Redis:Mode=container", $"--Redis:MaxMemory={value}"], TestContext.Current.CancellationToken));

        var message = error is AggregateException { InnerException: { } inner } ? inner.Message : error.Message;
        Assert.Contains("Redis:MaxMemory", error.ToString(), StringComparison.Ordinal);
        Assert.Contains(value, message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The value that follows the last occurrence of <paramref name="option"/>: Redis applies
    /// options in order, so the last one is the one in effect.
    /// </summary>
    private static string ValueOf(IReadOnlyList<string> args, string option)
    {
        var index = args.ToList().FindLastIndex(a => a == option);
        Assert.True(index >= 0 && index + 1 < args.Count, $"'{option}' with a value is not among the arguments: {string.Join(' ', args)}");
        return args[index + 1];
    }

    private static async Task<(IResource Redis, IReadOnlyList<string> Args)> RedisArgsAsync(params string[] settings)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(settings, cancellationToken);
        var redis = builder.Resources.Single(r => r.Name == "redis");
        var configuration = await ExecutionConfigurationBuilder.Create(redis).WithArgumentsConfig()
            .BuildAsync(new DistributedApplicationExecutionContext(DistributedApplicationOperation.Run), NullLogger.Instance, cancellationToken);
        return (redis, [.. configuration.Arguments.Select(a => a.Value)]);
    }
}
