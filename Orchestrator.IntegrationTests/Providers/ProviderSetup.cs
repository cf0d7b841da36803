using Orchestrator.Jobs;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>Settings and job helpers shared by the tests that run workers against the simulator service over HTTP.</summary>
internal static class ProviderSetup
{
    /// <summary>
    /// Worker settings for one provider <paramref name="provider"/> at the simulator, serving
    /// <paramref name="models"/> (name, context window); limits left out unless given.
    /// </summary>
    public static Dictionary<string, string> Worker(
        LlmSimulatorProcess simulator, string provider = "sim", (string Name, int? ContextWindow)[]? models = null,
        int? requestsPerMinute = null, int? tokensPerMinute = null, int? maxConcurrency = null, Dictionary<string, string>? more = null) =>
        Worker(simulator.Endpoint, provider, models, requestsPerMinute, tokensPerMinute, maxConcurrency, more);

    /// <summary>Worker settings as <see cref="Worker(LlmSimulatorProcess, string, ValueTuple{string, int?}[], int?, int?, int?, Dictionary{string, string})"/>'s, for the provider at <paramref name="endpoint"/>.</summary>
    public static Dictionary<string, string> Worker(
        string endpoint, string provider = "sim", (string Name, int? ContextWindow)[]? models = null,
        int? requestsPerMinute = null, int? tokensPerMinute = null, int? maxConcurrency = null, Dictionary<string, string>? more = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Retry:BaseDelay"] = "00:00:00.050",
            ["Retry:UseJitter"] = "false",
            ["Retry:MaxAttempts"] = "3",
            ["Llm:MaxRateLimitWait"] = "00:01:00",
        };
        AddProvider(settings, provider, endpoint, models ?? [("sim-model", null)], requestsPerMinute, tokensPerMinute, maxConcurrency);
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return settings;
    }

    public static void AddProvider(
        Dictionary<string, string> settings, string provider, LlmSimulatorProcess simulator, (string Name, int? ContextWindow)[] models,
        int? requestsPerMinute = null, int? tokensPerMinute = null, int? maxConcurrency = null) =>
        AddProvider(settings, provider, simulator.Endpoint, models, requestsPerMinute, tokensPerMinute, maxConcurrency);

    public static void AddProvider(
        Dictionary<string, string> settings, string provider, string endpoint, (string Name, int? ContextWindow)[] models,
        int? requestsPerMinute = null, int? tokensPerMinute = null, int? maxConcurrency = null)
    {
        var key = $"Llm:Providers:{provider}";
        settings[$"{key}:Kind"] = "openai";
        settings[$"{key}:Endpoint"] = endpoint;
        settings[$"{key}:ApiKey"] = "sk-simulated";
        for (var i = 0; i < models.Length; i++)
        {
            settings[$"{key}:Models:{i}:Name"] = models[i].Name;
            settings[$"{key}:Models:{i}:InputCostPerMillion"] = "1.5";
            settings[$"{key}:Models:{i}:OutputCostPerMillion"] = "6";
            if (models[i].ContextWindow is { } window)
            {
                settings[$"{key}:Models:{i}:ContextWindow"] = window.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        if (requestsPerMinute is { } rpm)
        {
            settings[$"{key}:RequestsPerMinute"] = rpm.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (tokensPerMinute is { } tpm)
        {
            settings[$"{key}:TokensPerMinute"] = tpm.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (maxConcurrency is { } concurrency)
        {
            settings[$"{key}:MaxConcurrency"] = concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Submits <paramref name="count"/> short jobs for sim-model, labelled "<paramref name="label"/> i", in order.</summary>
    public static async Task<string[]> SubmitManyAsync(WorkerHarness harness, int count, string label)
    {
        var ids = new string[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = await SubmitAsync(harness, new JobRequest($"{label} {i.ToString(System.Globalization.CultureInfo.InvariantCulture)}: one line on leases.", "sim-model", MaxTokens: 20));
        }

        return ids;
    }

    /// <summary>Submits one job asking for <paramref name="request"/>, as the API would store it.</summary>
    public static async Task<string> SubmitAsync(WorkerHarness harness, JobRequest request, int maxAttempts = 3)
    {
        var job = new NewJob(JobIds.New(), request, maxAttempts, TimeSpan.FromDays(1));
        var result = await harness.Store.SubmitAsync(job, idempotency: null).WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(SubmitOutcome.Created, result.Outcome);
        return result.JobId;
    }
}
