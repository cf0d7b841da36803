using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orchestrator.Worker;

namespace Orchestrator.UnitTests.Hosting;

/// <summary>
/// Values the configuration binder cannot convert are failed validations of their options, each named:
/// the binder stops at the first, and a second one in the same section was found only after fixing it.
/// </summary>
public sealed class UnreadableSettingsTests
{
    [Fact]
    public void Options_TwoUnreadableValuesInOneSection_NamesBoth()
    {
        var failures = Failures(new()
        {
            ["Worker:Concurrency"] = "abc",
            ["Worker:LeaseTimeout"] = "thirty seconds",
            ["Worker:PollTimeout"] = "00:00:00.500",
        });

        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, failure => failure.Contains("'abc' at 'Worker:Concurrency'", StringComparison.Ordinal));
        Assert.Contains(failures, failure => failure.Contains("'thirty seconds' at 'Worker:LeaseTimeout'", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_OneUnreadableValue_NamesItOnce()
    {
        var failure = Assert.Single(Failures(new() { ["Worker:HealthPort"] = "http", ["Worker:Concurrency"] = "8" }));

        Assert.Contains("'http' at 'Worker:HealthPort'", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_AllReadable_Bind()
    {
        var options = Provider(new() { ["Worker:Concurrency"] = "8", ["Worker:Misspelled"] = "x" }).GetRequiredService<IOptions<WorkerOptions>>().Value;

        Assert.Equal(8, options.Concurrency);
    }

    private static IReadOnlyList<string> Failures(Dictionary<string, string?> settings) =>
        Assert.Throws<OptionsValidationException>(() => Provider(settings).GetRequiredService<IOptions<WorkerOptions>>().Value).Failures.ToList();

    private static ServiceProvider Provider(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddUnreadableSettingsReported();
        services.AddValidatedOptions<WorkerOptions>(WorkerOptions.Section);
        return services.BuildServiceProvider();
    }
}
