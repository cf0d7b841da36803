using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Orchestrator.Llm;
using Polly;
using Polly.CircuitBreaker;

namespace Orchestrator.UnitTests.Llm;

/// <summary>
/// <see cref="LlmOptionsValidator"/>: the circuit's durations are refused at start exactly where Polly
/// would refuse them when a deployment's circuit is built (then every call to it failed); a
/// provider's <c>MaxTokensField</c> is one of the two request fields.
/// </summary>
public sealed class LlmOptionsValidatorTests
{
    [Theory]
    [InlineData("00:00:00.5")]
    [InlineData("1.00:00:00")]
    public void Validate_CircuitDurationsAtPollysBounds_SucceedAndBuild(string duration)
    {
        var value = Parse(duration);

        var result = new LlmOptionsValidator().Validate(null, new LlmOptions { CircuitSamplingDuration = value, CircuitBreakDuration = value });

        Assert.True(result.Succeeded, result.FailureMessage);
        Assert.True(PollyBuilds(value, value));
    }

    [Theory]
    [InlineData(999, false)]
    [InlineData(1_000, true)]
    [InlineData(100_000_000, true)]
    [InlineData(100_000_001, false)]
    public void Validate_MaxAnswerLength_FromAThousandToAHundredMillion(int length, bool valid)
    {
        var result = new LlmOptionsValidator().Validate(null, new LlmOptions { MaxAnswerLength = length });

        Assert.Equal(valid, result.Succeeded);
        Assert.Equal(valid ? null : "Llm:MaxAnswerLength must be from 1,000 to 100,000,000 characters.", result.Failures?.Single());
    }

    [Theory]
    [InlineData("00:00:00.009", false)]
    [InlineData("00:00:00.010", true)]
    [InlineData("01:00:00", true)]
    [InlineData("01:00:00.001", false)]
    public void Validate_StreamIdleTimeout_FromTenMillisecondsToAnHour(string timeout, bool valid)
    {
        var result = new LlmOptionsValidator().Validate(null, new LlmOptions { StreamIdleTimeout = Parse(timeout) });

        Assert.Equal(valid, result.Succeeded);
        Assert.Equal(valid ? null : "Llm:StreamIdleTimeout must be from 00:00:00.010 to 01:00:00.", result.Failures?.Single());
    }

    [Theory]
    [InlineData("00:00:00.009", false)]
    [InlineData("00:00:00.010", true)]
    [InlineData("00:05:00", true)]
    [InlineData("01:00:00.001", false)]
    public void Validate_ProviderStreamIdleTimeout_FromTenMillisecondsToAnHour(string timeout, bool valid)
    {
        var options = new LlmOptions();
        options.Providers["openai"] = new ProviderOptions
        {
            Kind = ProviderKinds.OpenAI,
            Endpoint = new Uri("https://api.openai.com/v1"),
            Models = [new ModelOptions { Name = "o3" }],
            StreamIdleTimeout = Parse(timeout),
        };

        var result = new LlmOptionsValidator().Validate(null, options);

        Assert.Equal(valid, result.Succeeded);
        Assert.Equal(valid ? null : "Llm:Providers:openai:StreamIdleTimeout must be from 00:00:00.010 to 01:00:00 (omit it for Llm:StreamIdleTimeout).", result.Failures?.Single());
    }

    [Theory]
    [InlineData("00:00:00.499")]
    [InlineData("1.00:00:00.001")]
    [InlineData("2.00:00:00")]
    public void Validate_CircuitSamplingDurationOutOfRange_FailsNamingIt(string duration)
    {
        var value = Parse(duration);

        var result = new LlmOptionsValidator().Validate(null, new LlmOptions { CircuitSamplingDuration = value });

        Assert.Equal("Llm:CircuitSamplingDuration must be from 00:00:00.5 to 1.00:00:00.", Assert.Single(result.Failures!));
        Assert.False(PollyBuilds(value, TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData("00:00:00.499")]
    [InlineData("1.00:00:00.001")]
    [InlineData("2.00:00:00")]
    public void Validate_CircuitBreakDurationOutOfRange_FailsNamingIt(string duration)
    {
        var value = Parse(duration);

        var result = new LlmOptionsValidator().Validate(null, new LlmOptions { CircuitBreakDuration = value });

        Assert.Equal("Llm:CircuitBreakDuration must be from 00:00:00.5 to 1.00:00:00.", Assert.Single(result.Failures!));
        Assert.False(PollyBuilds(TimeSpan.FromSeconds(30), value));
    }

    [Theory]
    [InlineData("max_completion_tokens", true)]
    [InlineData("max_tokens", true)]
    [InlineData("MAX_TOKENS", false)]
    [InlineData("maxTokens", false)]
    [InlineData("", false)]
    public void Validate_MaxTokensField_OneOfTheTwoFieldNames(string field, bool valid)
    {
        var options = new LlmOptions();
        options.Providers["ollama"] = new ProviderOptions
        {
            Kind = ProviderKinds.OpenAI,
            Endpoint = new Uri("http://localhost:11434/v1"),
            Models = [new ModelOptions { Name = "llama3.2" }],
            MaxTokensField = field,
        };

        var result = new LlmOptionsValidator().Validate(null, options);

        if (valid)
        {
            Assert.True(result.Succeeded, result.FailureMessage);
        }
        else
        {
            Assert.Equal($"Llm:Providers:ollama:MaxTokensField must be 'max_completion_tokens' or 'max_tokens' (was '{field}').", Assert.Single(result.Failures!));
        }
    }

    private static TimeSpan Parse(string value) => TimeSpan.Parse(value, CultureInfo.InvariantCulture);

    // As DeploymentCircuits builds a deployment's circuit.
    private static bool PollyBuilds(TimeSpan samplingDuration, TimeSpan breakDuration)
    {
        try
        {
            new ResiliencePipelineBuilder().AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                SamplingDuration = samplingDuration,
                BreakDuration = breakDuration,
            }).Build();
            return true;
        }
        catch (ValidationException)
        {
            return false;
        }
    }
}
