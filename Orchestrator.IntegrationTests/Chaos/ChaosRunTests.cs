using System.Reflection;

namespace Orchestrator.IntegrationTests.Chaos;

/// <summary>
/// The 60-second chaos run in CI: the built <c>Orchestrator.Chaos</c> program, run as a process
/// (real Redis with AOF, the API and three workers as real processes; worker kills and pauses, API
/// and Redis restarts, failover round trips, client pauses, the memory limit touched, and poison
/// jobs that kill their worker), must exit 0 with every invariant held, among them that no worker
/// or API process exited unless the run killed it.
/// </summary>
[Collection(ChaosCollection.Name)]
public sealed class ChaosRunTests
{
    /// <summary>60 s of faults, start-up, the bounded drain (60 s + lease) and shutdown, with room for a loaded machine.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(240);

    [Fact]
    public async Task ChaosRun_SixtySecondsOfFaults_AllInvariantsHold()
    {
        var chaos = typeof(ChaosRunTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "Orchestrator.Chaos.Assembly").Value!;
        Assert.True(File.Exists(chaos), $"The chaos program was not built at {chaos}.");

        await using var process = ChildProcess.Start(new ChildProcessOptions
        {
            Name = "chaos",
            FileName = ChildProcess.DotnetHost,
            Arguments = [chaos, "--preset", "ci", "--duration", "60"],
        });
        if (!await process.WaitForExitAsync(RunTimeout, TestContext.Current.CancellationToken))
        {
            // The whole tree: the chaos run and its Redis, API and workers.
            await process.KillAsync();
            Assert.Fail($"The chaos run did not finish within {RunTimeout.TotalSeconds:0} s.{Environment.NewLine}{process.Output}");
        }

        var text = process.Output;
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        Assert.True(process.ExitCode == 0, $"The chaos run exited with {process.ExitCode}.{Environment.NewLine}{text}");
        Assert.Contains("CHAOS PASSED: 8/8 invariants held", text, StringComparison.Ordinal);
        Assert.DoesNotContain("BROKEN", text, StringComparison.Ordinal);
        // The run really did inject each kind of fault, and poison jobs killed their workers.
        Assert.Matches(
            @"faults\s+worker kills [1-9]\d*, worker pauses [1-9]\d*, worker stops [1-9]\d*, API restarts [1-9]\d*, Redis restarts [1-9]\d*, " +
            @"failovers [1-9]\d*, client pauses [1-9]\d*, memory limits [1-9]\d*",
            text);
        Assert.Matches(@"crash-hint deaths\s+[1-9]\d* worker\(s\) died holding a crash-hint job", text);
        Assert.Matches(@"HELD\s+8\. every crash-hint job failed as poison-job — checked [1-9]\d*, violations 0", text);
        // The invariants on jobs, keys and answers looked at something: a run in which nearly every
        // submission was refused held them all with nothing checked (an outside audit). A quarter of
        // the answers at least are 202s (two thirds in a 300 s run).
        foreach (var invariant in new[] { 1, 2, 3, 4, 6 })
        {
            Assert.Matches($@"HELD\s+{invariant}\. .* — checked [1-9]\d*, violations 0", text);
        }

        var answers = System.Text.RegularExpressions.Regex.Matches(text[text.IndexOf("answers ", StringComparison.Ordinal)..].Split('\n')[0], @"(\d{3}|no answer): (\d+)")
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(answers.GetValueOrDefault("202") * 4 >= answers.Values.Sum(), $"202 answers: {string.Join(", ", answers.Select(a => $"{a.Key}: {a.Value}"))}");
        // Checked on every process the run started, the first API and workers at least.
        Assert.Matches(@"HELD\s+7\. no API or worker process exited unless the run stopped it .* — checked ([4-9]|\d{2,}), violations 0", text);
    }
}

/// <summary>The chaos run loads both cores for a minute: it runs alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChaosCollection
{
    public const string Name = "chaos";
}
