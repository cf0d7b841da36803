using System.Net;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Resilience;
using Polly.Timeout;

namespace Orchestrator.UnitTests.Worker;

public sealed class AttemptFailureTests
{
    public static TheoryData<Exception, bool, string, string> Cases => new()
    {
        { new LlmException(LlmErrorKind.Transient, "overloaded"), true, AttemptOutcome.TransientFailure, "transient" },
        { new LlmException(LlmErrorKind.InvalidRequest, "invalid request"), false, AttemptOutcome.PermanentFailure, "invalid-request" },
        { new TimeoutRejectedException("too slow"), true, AttemptOutcome.Timeout, "timeout" },
        // A provider silent for Llm:StreamIdleTimeout: the attempt's own timeout never fired, the call timed out all the same.
        { CallTimeoutException.Idle(TimeSpan.FromSeconds(30), heardAny: true, responded: true, new OperationCanceledException(), CancellationToken.None), true, AttemptOutcome.Timeout, "timeout" },
        // A 429 is waited out by LlmCaller (a CapacityWaitException); one that reaches here ends as rate-limited.
        { new HttpRequestException("rate limited", null, HttpStatusCode.TooManyRequests), false, AttemptOutcome.PermanentFailure, "rate-limited" },
        { new CapacityWaitException(TimeSpan.FromSeconds(1), "rate-limited", "openai"), false, AttemptOutcome.PermanentFailure, "rate-limited" },
        { new LlmException(LlmErrorKind.InsufficientQuota, "quota"), false, AttemptOutcome.PermanentFailure, "insufficient-quota" },
        { new LlmException(LlmErrorKind.ContextLengthExceeded, "too long"), false, AttemptOutcome.PermanentFailure, "context-length-exceeded" },
        { new LlmException(LlmErrorKind.RequestTooLarge, "too large"), false, AttemptOutcome.PermanentFailure, "request-too-large" },
        { new LlmException(LlmErrorKind.Permission, "forbidden"), false, AttemptOutcome.PermanentFailure, "permission" },
        { new HttpRequestException("unavailable", null, HttpStatusCode.ServiceUnavailable), true, AttemptOutcome.TransientFailure, "transient" },
        { new HttpRequestException("server error", null, HttpStatusCode.InternalServerError), true, AttemptOutcome.TransientFailure, "transient" },
        { new HttpRequestException("request timeout", null, HttpStatusCode.RequestTimeout), true, AttemptOutcome.TransientFailure, "transient" },
        { new HttpRequestException("connection refused"), true, AttemptOutcome.TransientFailure, "transient" },
        { new HttpRequestException("bad request", null, HttpStatusCode.BadRequest), false, AttemptOutcome.PermanentFailure, "invalid-request" },
        { new HttpRequestException("unauthorized", null, HttpStatusCode.Unauthorized), false, AttemptOutcome.PermanentFailure, "authentication" },
        { new HttpRequestException("not found", null, HttpStatusCode.NotFound), false, AttemptOutcome.PermanentFailure, "model-not-found" },
        { new InvalidOperationException("a bug"), false, AttemptOutcome.PermanentFailure, "unexpected" },
    };

    /// <summary>A failed TLS handshake's reason is its inner exception's: the stored error says it (it said "see inner exception").</summary>
    [Fact]
    public void ConnectionFailure_SaysItsInnermostCause()
    {
        var handshake = new HttpRequestException("The SSL connection could not be established, see inner exception.",
            new System.Security.Authentication.AuthenticationException("The remote certificate is invalid: UntrustedRoot"));

        var error = LlmFailure.Classify(new System.ClientModel.ClientResultException("Service request failed.", innerException: handshake), DateTimeOffset.UnixEpoch);

        Assert.Equal(LlmErrorKind.Transient, error!.Kind);
        Assert.Equal("The provider did not answer: Service request failed. (The remote certificate is invalid: UntrustedRoot)", error.Message);
        Assert.EndsWith("(The remote certificate is invalid: UntrustedRoot)", LlmFailure.Classify(handshake, DateTimeOffset.UnixEpoch)!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Classify_KnownException_GivesTransienceOutcomeAndErrorType(Exception exception, bool transient, string outcome, string errorType)
    {
        Assert.Equal(transient, AttemptFailure.IsTransient(exception));
        Assert.Equal(outcome, AttemptFailure.OutcomeOf(exception));
        Assert.Equal(errorType, AttemptFailure.ErrorOf(exception).Type);
    }

    [Fact]
    public void ErrorOf_ProviderException_KeepsItsMessage()
    {
        var error = AttemptFailure.ErrorOf(new LlmException(LlmErrorKind.Transient, "simulated overload (503)"));

        Assert.Equal("simulated overload (503)", error.Message);
    }

    [Fact]
    public void ErrorOf_DeploymentWaitPastTheBound_NothingWaitedYet_SaysTheWaitWasTooLongNotThatItWaited()
    {
        var error = AttemptFailure.ErrorOf(new CapacityWaitException(TimeSpan.FromHours(2), "rate-limited", "openai"));

        Assert.Equal("rate-limited", error.Type);
        Assert.Equal("Deployment 'openai' needs a wait of 7200000 ms (rate-limited), more than Llm:MaxRateLimitWait allows; the job did not wait.", error.Message);
    }

    [Fact]
    public void ErrorOf_CircuitWaitPastTheBound_SaysWhatOpenedTheCircuit()
    {
        var error = AttemptFailure.ErrorOf(new CapacityWaitException(TimeSpan.FromSeconds(10), "circuit-open", "openai", "503 server_error: The engine is overloaded."));

        Assert.Equal("rate-limited", error.Type);
        Assert.Equal("Deployment 'openai' needs a wait of 10000 ms (circuit-open), more than Llm:MaxRateLimitWait allows; the job did not wait."
            + " Its circuit opened on: 503 server_error: The engine is overloaded.", error.Message);
    }

    [Fact]
    public void ErrorOf_RateLimitWaitPastTheBound_QuotesTheProvidersAnswer()
    {
        // The stored error said the wait and not the provider's 429 (an outside audit), where the docs promise its own words.
        var error = AttemptFailure.ErrorOf(new CapacityWaitException(TimeSpan.FromSeconds(7), "rate-limited", "openai", "429 rate_limit_exceeded: Rate limit reached for requests."));

        Assert.Equal("rate-limited", error.Type);
        Assert.Equal("Deployment 'openai' needs a wait of 7000 ms (rate-limited), more than Llm:MaxRateLimitWait allows; the job did not wait."
            + " The deployment answered: 429 rate_limit_exceeded: Rate limit reached for requests.", error.Message);
    }

    [Fact]
    public void DeferredErrorOf_ATakenBackAttempt_SaysTheJobWaits_NotThatItDidNot()
    {
        // A deferral's span said "…more than Llm:MaxRateLimitWait allows; the job did not wait" of a job
        // that waited its 10 s in the delayed set and completed (an outside audit).
        var error = AttemptFailure.DeferredErrorOf(new CapacityWaitException(TimeSpan.FromSeconds(10), "circuit-open", "sim"));

        Assert.Equal("rate-limited", error.Type);
        Assert.Equal("Deployment 'sim': circuit-open; waiting 10000 ms without spending an attempt. The attempt was taken back; the job waits in the delayed set.", error.Message);
    }

    [Fact]
    public void ErrorOf_DeploymentWaitPastTheBound_AfterEarlierWaits_NamesBoth()
    {
        var error = AttemptFailure.ErrorOf(new CapacityWaitException(TimeSpan.FromSeconds(20), "capacity", "openai"), TimeSpan.FromSeconds(40));

        Assert.Equal(
            "Deployment 'openai' needs a wait of 20000 ms (capacity); after the 40000 ms this job has waited for deployments, that is more than Llm:MaxRateLimitWait allows.",
            error.Message);
    }

    [Fact]
    public void ErrorOf_UnexpectedException_NamesItsType()
    {
        var error = AttemptFailure.ErrorOf(new InvalidOperationException("a bug"));

        Assert.Contains(nameof(InvalidOperationException), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorOf_MessageOverTheBound_KeepsItsStartAndSaysHowMuchWasCut()
    {
        var message = "500 server_error: " + new string('x', 1024 * 1024);

        var error = AttemptFailure.ErrorOf(new LlmException(LlmErrorKind.Transient, message));

        Assert.Equal("transient", error.Type);
        Assert.StartsWith(message[..AttemptFailure.MaxMessageLength], error.Message, StringComparison.Ordinal);
        Assert.EndsWith($"… [{message.Length - AttemptFailure.MaxMessageLength} more characters cut]", error.Message, StringComparison.Ordinal);
        Assert.True(error.Message.Length < AttemptFailure.MaxMessageLength + 64, $"{error.Message.Length} characters stored");
    }

    [Fact]
    public void ErrorOf_MessageAtTheBound_StoredWhole()
    {
        var message = new string('x', AttemptFailure.MaxMessageLength);

        Assert.Equal(message, AttemptFailure.ErrorOf(new LlmException(LlmErrorKind.InvalidRequest, message)).Message);
    }

    [Fact]
    public void ErrorOf_CutFallsInsideASurrogatePair_PairNotSplit()
    {
        // An emoji (two UTF-16 units) straddling the bound: cut before it, never half of it.
        var message = new string('x', AttemptFailure.MaxMessageLength - 1) + "\U0001F600" + new string('y', 100);

        var stored = AttemptFailure.ErrorOf(new LlmException(LlmErrorKind.Transient, message)).Message;

        Assert.StartsWith(new string('x', AttemptFailure.MaxMessageLength - 1) + "…", stored, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorOf_ProviderKeyAcrossTheBound_NoPartOfItKept()
    {
        // Cut first and redacted after, the key's first half would be stored: it no longer matches the key.
        const string key = "sk-unit-ACROSS-THE-BOUND-0123456789";
        ProviderSecrets.Add([key]);
        var message = new string('x', AttemptFailure.MaxMessageLength - 10) + key + new string('y', 100);

        var stored = AttemptFailure.ErrorOf(new LlmException(LlmErrorKind.Authentication, message)).Message;

        Assert.DoesNotContain(key[..10], stored, StringComparison.Ordinal);
        Assert.StartsWith(new string('x', AttemptFailure.MaxMessageLength - 10) + ProviderSecrets.Mark, stored, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorOf_UnclassifiedExceptionQuotingAProviderKey_KeyRedacted()
    {
        const string key = "sk-unit-UNEXPECTED-0123456789";
        ProviderSecrets.Add([key]);

        var stored = AttemptFailure.ErrorOf(new InvalidOperationException($"a bug that quoted {key}")).Message;

        Assert.Equal($"InvalidOperationException: a bug that quoted {ProviderSecrets.Mark}", stored);
    }
}
