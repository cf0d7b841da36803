using System.Runtime.CompilerServices;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// The services these tests start (every child process inherits the test host's environment) wait
/// the runtime's default 100 ms of quiet before counting calls for tier-1 compilation. The services
/// ship with no wait (<c>CallCountingDelayMs</c> = 0 in their project files), which pays back over a
/// long run (docs/performance.md, "Settings chosen by measurement"), but a test's process lives
/// seconds: with no wait the process tests took ~40 % more CPU on 2 shared cores (the figures are
/// in docs/performance.md). It changes when code is compiled, not what it does. The benchmarks, and
/// the provider tests' measuring runs (<c>ORCHESTRATOR_PROVIDER_LOAD</c>), start the services as shipped.
/// </summary>
internal static class ServiceJitSetting
{
    /// <summary>The runtime reads <c>DOTNET_</c> numbers as hexadecimal: 0x64 is 100 ms.</summary>
    private const string DefaultDelay = "64";

    [ModuleInitializer]
    internal static void Apply()
    {
        // A value the caller set (to run the tests as shipped: 0) is kept.
        if (Environment.GetEnvironmentVariable("DOTNET_TC_CallCountingDelayMs") is null
            && Environment.GetEnvironmentVariable(Providers.FleetFlowControlTests.LoadVariable) is null)
        {
            Environment.SetEnvironmentVariable("DOTNET_TC_CallCountingDelayMs", DefaultDelay);
        }
    }
}
