using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// The arguments the AppHost gives the Redis it starts, read from its application model (no
/// container runtime is needed): an append-only file and no RDB snapshots, and a memory bound
/// with <c>noeviction</c>, in container mode as in local mode; and a bad setting of the AppHost's own.
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

    /// <summary>
    /// A bad AppHost setting ends the real AppHost with one line naming it and exit code 1, before
    /// anything starts: read where it was used, it was an unhandled exception (exit code 134, ~20
    /// lines of the binder's inner exceptions for <c>Worker:Replicas=abc</c>; an outside audit).
    /// </summary>
    [Theory]
    [InlineData("Redis:MaxMemory", "lots", "Redis:MaxMemory 'lots' is not a memory size Redis accepts")]
    [InlineData("Redis:MaxMemory", "1tb", "Redis:MaxMemory '1tb' is not a memory size Redis accepts")]
    [InlineData("Worker:Replicas", "abc", "Worker:Replicas: 'abc' is not a whole number from 1 to 100.")]
    [InlineData("Worker:Replicas", "0", "Worker:Replicas: '0' is not a whole number from 1 to 100.")]
    [InlineData("Api:Port", "99999", "Api:Port: '99999' is not a whole number from 0 to 65535.")]
    [InlineData("Redis:Port", "abc", "Redis:Port: 'abc' is not a whole number from 1 to 65530.")]
    [InlineData("Redis:Mode", "bogus", "Redis:Mode 'bogus' is not known")]
    [InlineData("Redis:NodeTimeout", "soon", "Redis:NodeTimeout: 'soon' is not a duration")]
    [InlineData("Redis:Mode", "connection-string", "Redis:Mode 'connection-string' needs ConnectionStrings:redis")]
    public async Task BadSetting_EndsTheAppHostWithOneLineNamingIt_ExitCode1(string key, string value, string expected)
    {
        var assembly = WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", "Orchestrator.AppHost", StringComparison.Ordinal);
        await using var process = ServiceProcess.Start("apphost", assembly, new Dictionary<string, string> { [key] = value });

        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken), $"the AppHost did not exit: {process.Tail()}");
        var output = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => !line.StartsWith("--- ", StringComparison.Ordinal)).ToList();
        Assert.True(process.ExitCode == 1, $"exit code {process.ExitCode}: {process.Tail()}");
        Assert.StartsWith(expected, Assert.Single(output), StringComparison.Ordinal);
    }

    /// <summary>
    /// A provider whose key parameter has no value: Aspire holds the API and the workers back until
    /// it is given, and the console said nothing (an outside audit). The AppHost now says so, naming
    /// the parameter, as it builds the model; given a value, it says nothing.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ProviderKeyParameter_Unset_TheConsoleNamesIt(bool given)
    {
        string[] settings =
        [
            "--Llm:Providers:acme:Kind=openai", "--Llm:Providers:acme:Endpoint=http://127.0.0.1:9/v1", "--Llm:Providers:acme:Models:0:Name=m",
            .. given ? (string[])["--Parameters:llm-acme-api-key=a-key"] : [],
        ];
        var error = new StringWriter();
        var original = Console.Error;
        // The AppHost's Program runs here, in this process, up to its Build: its line goes to this writer.
        Console.SetError(TextWriter.Synchronized(error));
        try
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(settings, TestContext.Current.CancellationToken);
            Assert.Contains(builder.Resources, r => r.Name == "llm-acme-api-key");
        }
        finally
        {
            Console.SetError(original);
        }

        const string line = "Parameter llm-acme-api-key (provider 'acme''s API key) has no value: the API and the workers wait for it.";
        if (given)
        {
            Assert.DoesNotContain(line, error.ToString(), StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains(line, error.ToString(), StringComparison.Ordinal);
        }
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
