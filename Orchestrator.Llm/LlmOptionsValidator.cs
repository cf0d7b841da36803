using Microsoft.Extensions.Options;

namespace Orchestrator.Llm;

/// <summary>Checks the <c>Llm</c> section at start; each failure is one line naming the bad key.</summary>
public sealed class LlmOptionsValidator : IValidateOptions<LlmOptions>
{
    private static readonly TimeSpan CircuitMinimum = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan CircuitMaximum = TimeSpan.FromDays(1);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LlmOptions options)
    {
        var failures = new List<string>();
        var served = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (provider, p) in options.Providers)
        {
            var key = $"Llm:Providers:{provider}";
            if (!string.Equals(p.Kind, ProviderKinds.OpenAI, StringComparison.OrdinalIgnoreCase) && !p.IsSimulated)
            {
                failures.Add($"{key}:Kind must be '{ProviderKinds.OpenAI}' or '{ProviderKinds.Simulated}' (was '{p.Kind}').");
            }

            // An ftp:// endpoint passed, and every job then failed on its first call.
            if (!p.IsSimulated && p.Endpoint is not { IsAbsoluteUri: true, Scheme: "http" or "https" })
            {
                failures.Add($"{key}:Endpoint must be an absolute http or https URL, e.g. https://api.openai.com/v1.");
            }

            if (p.Models.Count == 0)
            {
                failures.Add($"{key}:Models must list at least one model (Models:0:Name).");
            }

            for (var i = 0; i < p.Models.Count; i++)
            {
                var m = p.Models[i];
                var modelKey = $"{key}:Models:{i}";
                if (string.IsNullOrWhiteSpace(m.Name))
                {
                    failures.Add($"{modelKey}:Name is required.");
                }
                else if (!served.TryAdd(m.Name, provider))
                {
                    failures.Add($"{modelKey}:Name '{m.Name}' is already served by provider '{served[m.Name]}'; a model name must be unique.");
                }

                if (m.ContextWindow is < 1)
                {
                    failures.Add($"{modelKey}:ContextWindow must be at least 1.");
                }

                if (m.InputCostPerMillion < 0 || m.OutputCostPerMillion < 0)
                {
                    failures.Add($"{modelKey}:InputCostPerMillion and OutputCostPerMillion must not be negative.");
                }
            }

            if (p.RequestsPerMinute is < 1)
            {
                failures.Add($"{key}:RequestsPerMinute must be at least 1 (omit it when unknown).");
            }

            if (p.TokensPerMinute is < 1)
            {
                failures.Add($"{key}:TokensPerMinute must be at least 1 (omit it when unknown).");
            }

            if (p.MaxConcurrency is < 1)
            {
                failures.Add($"{key}:MaxConcurrency must be at least 1 (omit it for no bound).");
            }

            if (p.DefaultMaxTokens < 1)
            {
                failures.Add($"{key}:DefaultMaxTokens must be at least 1.");
            }

            if (p.StreamIdleTimeout is { } idle && !IdleTimeoutInRange(idle))
            {
                failures.Add($"{key}:StreamIdleTimeout must be from 00:00:00.010 to 01:00:00 (omit it for Llm:StreamIdleTimeout).");
            }

            if (p.MaxTokensField is not (MaxTokensFields.MaxCompletionTokens or MaxTokensFields.MaxTokens))
            {
                failures.Add($"{key}:MaxTokensField must be '{MaxTokensFields.MaxCompletionTokens}' or '{MaxTokensFields.MaxTokens}' (was '{p.MaxTokensField}').");
            }
        }

        if (options.DefaultModel is { } defaultModel && options.Providers.Count > 0 && !served.ContainsKey(defaultModel))
        {
            failures.Add($"Llm:DefaultModel '{defaultModel}' is not served by any provider under Llm:Providers.");
        }

        if (options.BookAhead < TimeSpan.Zero || options.BookAhead > TimeSpan.FromHours(1))
        {
            failures.Add("Llm:BookAhead must be from 00:00:00 to 01:00:00.");
        }

        if (options.MaxRateLimitWait < TimeSpan.Zero)
        {
            failures.Add("Llm:MaxRateLimitWait must not be negative.");
        }

        if (options.MaxAnswerLength is < 1_000 or > 100_000_000)
        {
            failures.Add("Llm:MaxAnswerLength must be from 1,000 to 100,000,000 characters.");
        }

        if (!IdleTimeoutInRange(options.StreamIdleTimeout))
        {
            failures.Add("Llm:StreamIdleTimeout must be from 00:00:00.010 to 01:00:00.");
        }

        // Written so that NaN fails too (every comparison with it is false).
        if (options.CircuitFailureRatio is not (> 0 and <= 1))
        {
            failures.Add("Llm:CircuitFailureRatio must be above 0 and at most 1.");
        }

        if (options.CircuitMinimumThroughput < 2)
        {
            failures.Add("Llm:CircuitMinimumThroughput must be at least 2.");
        }

        // Polly's own ranges: outside them building a deployment's circuit throws, failing every call.
        if (options.CircuitSamplingDuration < CircuitMinimum || options.CircuitSamplingDuration > CircuitMaximum)
        {
            failures.Add("Llm:CircuitSamplingDuration must be from 00:00:00.5 to 1.00:00:00.");
        }

        if (options.CircuitBreakDuration < CircuitMinimum || options.CircuitBreakDuration > CircuitMaximum)
        {
            failures.Add("Llm:CircuitBreakDuration must be from 00:00:00.5 to 1.00:00:00.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IdleTimeoutInRange(TimeSpan timeout) => timeout >= TimeSpan.FromMilliseconds(10) && timeout <= TimeSpan.FromHours(1);
}
