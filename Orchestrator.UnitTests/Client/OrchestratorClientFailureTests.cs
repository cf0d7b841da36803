using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Client;

namespace Orchestrator.UnitTests.Client;

/// <summary>
/// <see cref="OrchestratorClient"/> when the API misbehaves in ways a real one is hard to make do on
/// cue: a poll that never gets an answer, a refusal after the client's own re-sends. A scripted
/// handler answers; a fake clock moves the client's own timers.
/// </summary>
public sealed class OrchestratorClientFailureTests
{
    private const string CompletedJob = """
        {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","status":"completed","prompt":"p","model":null,"maxTokens":null,"temperature":null,
         "metadata":null,"attempts":1,"maxAttempts":5,"createdAt":"2026-12-05T00:00:00.000Z","updatedAt":"2026-12-05T00:00:01.000Z",
         "completedAt":"2026-12-05T00:00:01.000Z","nextAttemptAt":null,"result":null,"error":null,"history":[]}
        """;

    [Fact]
    public async Task WaitAsync_APollThatGetsNoAnswer_IsAskedAgain_NotAnError()
    {
        // An API that accepts the connection and never answers (paused, a black hole): the poll used to
        // end with HttpClient.Timeout's TaskCanceledException, out of a WaitAsync whose caller canceled nothing.
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var handler = new ScriptedHandler(async (call, cancellationToken) =>
        {
            if (call == 1)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            return Json(HttpStatusCode.OK, CompletedJob);
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/"), Timeout = Timeout.InfiniteTimeSpan };
        var client = new OrchestratorClient(http, timeProvider: time);

        var wait = client.WaitAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);
        await AsyncWait.WaitUntilAsync(() => handler.Calls == 1, TimeSpan.FromSeconds(10), "the first poll is sent");
        // Past one poll's bound (its 30 s long poll and a margin), then past the pause before the next;
        // not further: on a busy machine the second poll, answered at once, could outlast its own bound.
        await AsyncWait.WaitUntilAsync(() =>
        {
            if (handler.Calls < 2)
            {
                time.Advance(TimeSpan.FromSeconds(5));
            }

            return handler.Calls >= 2;
        }, TimeSpan.FromSeconds(10), "the second poll is sent", TimeSpan.FromMilliseconds(10));

        var job = await wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(JobStatuses.Completed, job.Status);
        Assert.Equal(2, handler.Calls);
    }

    [Theory]
    [InlineData("cut")] // a connection reset after the headers of a 200 (an API killed mid-answer)
    [InlineData("429")] // the tenant's places to wait taken (Api:MaxConcurrentWaitsPerTenant)
    public async Task WaitAsync_APollCutMidBodyOrRefused429_IsAskedAgain_NotAnError(string first)
    {
        // Either way the job is still there to wait for.
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var handler = new ScriptedHandler((call, _) => Task.FromResult(call > 1 ? Json(HttpStatusCode.OK, CompletedJob)
            : first == "cut" ? new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StreamContent(new BreakingStream(Encoding.UTF8.GetBytes(CompletedJob[..40])))
                {
                    Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") },
                },
            }
            : Problem(HttpStatusCode.TooManyRequests,
                """{"type":"urn:orchestrator:problem:quota-exceeded","title":"Tenant quota exceeded","status":429,"quota":"MaxConcurrentWaitsPerTenant","limit":1}""",
                retryAfterSeconds: 1)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http, timeProvider: time);

        var wait = client.WaitAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);
        // The pause before the next poll runs on the fake clock.
        await AsyncWait.WaitUntilAsync(() =>
        {
            if (handler.Calls < 2 && !wait.IsCompleted)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }

            return handler.Calls >= 2 || wait.IsCompleted;
        }, TimeSpan.FromSeconds(10), "the second poll is sent", TimeSpan.FromMilliseconds(10));

        var job = await wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(JobStatuses.Completed, job.Status);
        Assert.Equal(2, handler.Calls);
    }

    [Fact]
    public async Task WaitAsync_A503WithRetryAfter_IsAskedAgainNoSooner()
    {
        // Every place to wait taken (503 too-many-waits, Retry-After): it was polled again at +107, +310, +712 ms (an outside audit).
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var asked = new List<DateTimeOffset>();
        var handler = new ScriptedHandler((call, _) =>
        {
            lock (asked)
            {
                asked.Add(time.GetUtcNow());
            }

            return Task.FromResult(call > 1 ? Json(HttpStatusCode.OK, CompletedJob)
                : Problem(HttpStatusCode.ServiceUnavailable,
                    """{"type":"urn:orchestrator:problem:too-many-waits","title":"Too many waiting requests","status":503}""", retryAfterSeconds: 5));
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var wait = new OrchestratorClient(http, timeProvider: time).WaitAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);

        await AsyncWait.WaitUntilAsync(() =>
        {
            if (handler.Calls < 2 && !wait.IsCompleted)
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
            }

            return handler.Calls >= 2 || wait.IsCompleted;
        }, TimeSpan.FromSeconds(10), "the second poll is sent", TimeSpan.FromMilliseconds(5));

        Assert.Equal(JobStatuses.Completed, (await wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)).Status);
        Assert.InRange(asked[1] - asked[0], TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5.5));
    }

    // A zero poll interval polled in a busy loop; a negative one threw from inside Task.Delay once the
    // API was away; bad submission settings threw the resilience library's own exception (an outside audit).
    [Theory]
    [InlineData("PollInterval", "00:00:00")]
    [InlineData("PollInterval", "-00:00:01")]
    [InlineData("MaxPollInterval", "00:00:00.050")]
    [InlineData("SubmitAttemptTimeout", "00:00:00")]
    [InlineData("SubmitRetryDelay", "-00:00:01")]
    [InlineData("MaxSubmitRetries", "-1")]
    public void Options_OutOfRange_AreAnArgumentExceptionNamingThem(string option, string value)
    {
        var options = new OrchestratorClientOptions();
        var property = typeof(OrchestratorClientOptions).GetProperty(option)!;
        property.SetValue(options, property.PropertyType == typeof(int)
            ? int.Parse(value, System.Globalization.CultureInfo.InvariantCulture)
            : TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture));
        using var http = new HttpClient { BaseAddress = new Uri("http://api.test/") };

        var error = Assert.Throws<ArgumentException>(() => new OrchestratorClient(http, options));

        Assert.Contains($"OrchestratorClientOptions.{option} must be from", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(501)]
    public async Task GetDeadLettersAsync_APageSizeOutOf1To500_IsRefusedBeforeAnythingIsSent(int pageSize)
    {
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Json(HttpStatusCode.OK, """{"items":[],"nextCursor":null}""")));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
        {
            await foreach (var _ in client.GetDeadLettersAsync(pageSize, TestContext.Current.CancellationToken))
            {
            }
        });
        Assert.Equal(0, handler.Calls);
    }

    [Fact]
    public async Task GetAndWait_AnIdNamingAnotherPathOfTheApi_IsNoSuchJob()
    {
        // "counts" is no job id, and GET /jobs/counts answers 200 with the counts: not a job to return.
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Json(HttpStatusCode.OK, """{"byStatus":{"queued":1},"counted":1,"window":10000}""")));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        Assert.Null(await client.GetAsync("counts", TestContext.Current.CancellationToken));
        var refused = await Assert.ThrowsAsync<OrchestratorProblemException>(() => client.WaitAsync("counts", TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(404, refused.Status);
    }

    [Fact]
    public async Task WaitAsync_TheCallersCancellation_EndsIt()
    {
        var handler = new ScriptedHandler(async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return Json(HttpStatusCode.OK, CompletedJob);
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);
        using var canceled = new CancellationTokenSource();

        var wait = client.WaitAsync("AAAAAAAAAAAAAAAAAAAAAA", canceled.Token);
        await AsyncWait.WaitUntilAsync(() => handler.Calls == 1, TimeSpan.FromSeconds(10), "the first poll is sent");
        await canceled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task SubmitAsync_StillUnavailableAfterItsResends_TheErrorCarriesTheKeyToSendAgainWith()
    {
        // The job may exist (a 503 is not "nothing stored"): only the key the client made finds it.
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Problem(HttpStatusCode.ServiceUnavailable,
            """{"type":"urn:orchestrator:problem:store-unavailable","title":"Job store unavailable","status":503,"detail":"Retry with the same idempotency key."}""",
            retryAfterSeconds: 1)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http, new OrchestratorClientOptions { MaxSubmitRetries = 0 });

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.SubmitAsync(new JobSubmission("p"), cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal(503, error.Status);
        Assert.Equal("urn:orchestrator:problem:store-unavailable", error.Type);
        Assert.Equal(Assert.Single(handler.IdempotencyKeys), error.IdempotencyKey);
        Assert.Equal(TimeSpan.FromSeconds(1), error.RetryAfter);
    }

    [Fact]
    public async Task SubmitAsync_QuotaExceeded_TheErrorCarriesRetryAfterAndTheQuota()
    {
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Problem(HttpStatusCode.TooManyRequests,
            """{"type":"urn:orchestrator:problem:quota-exceeded","title":"Tenant quota exceeded","status":429,"detail":"…","quota":"requestsPerMinute","limit":6}""",
            retryAfterSeconds: 8)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.SubmitAsync(new JobSubmission("p"), "my-key", TestContext.Current.CancellationToken));

        Assert.Equal(429, error.Status);
        Assert.Equal("my-key", error.IdempotencyKey);
        Assert.Equal(TimeSpan.FromSeconds(8), error.RetryAfter);
        Assert.Equal("requestsPerMinute", error.Extensions["quota"].GetString());
        Assert.Equal(6, error.Extensions["limit"].GetInt32());
        Assert.Equal(1, handler.Calls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SubmitAsync_NoAnswerAfterItsResends_TheErrorCarriesTheKeyToSendAgainWith(bool timesOut)
    {
        // Every send is refused at connect, or reaches the API and gets no answer in time: the job may
        // exist. Outside audit: a bare HttpRequestException or Polly's TimeoutRejectedException, no key.
        var handler = new ScriptedHandler(async (_, cancellationToken) =>
        {
            if (timesOut)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            throw new HttpRequestException("Connection refused");
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http, new OrchestratorClientOptions
        {
            MaxSubmitRetries = 1,
            SubmitRetryDelay = TimeSpan.FromMilliseconds(1),
            SubmitAttemptTimeout = TimeSpan.FromMilliseconds(200),
        });

        var error = await Assert.ThrowsAsync<OrchestratorUnreachableException>(() =>
            client.SubmitAsync(new JobSubmission("p"), cancellationToken: TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.Equal(2, handler.Calls);
        Assert.Equal(handler.IdempotencyKeys.Distinct().Single(), error.IdempotencyKey);
        Assert.NotNull(error.InnerException);
    }

    [Fact]
    public async Task TwoClientsSharingOneHttpClient_EachSendsItsOwnKey()
    {
        // Outside audit: the constructor set the key on the shared HttpClient, and the last client built
        // sent its key for both (a job submitted as another tenant).
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Json(HttpStatusCode.OK, CompletedJob)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var acme = new OrchestratorClient(http, new OrchestratorClientOptions { ApiKey = "acme-key-0123456789" });
        var dev = new OrchestratorClient(http, new OrchestratorClientOptions { ApiKey = "dev-key-0123456789" });
        var anonymous = new OrchestratorClient(http);

        await acme.GetAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);
        await dev.GetAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);
        await anonymous.GetAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken);

        Assert.Equal(["Bearer acme-key-0123456789", "Bearer dev-key-0123456789", ""], handler.Authorizations);
    }

    [Theory]
    [InlineData("ключ-0123456789abcdef")]
    [InlineData("bad\nkey-0123456789abcdef")]
    [InlineData("with space-0123456789")]
    public void ApiKeyNoHeaderCanCarry_IsAnArgumentException_BeforeAnythingIsSent(string apiKey)
    {
        // Outside audit: a non-ASCII key was re-sent as a transport failure for 11 s; one with a newline
        // failed with a FormatException.
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Json(HttpStatusCode.OK, CompletedJob)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };

        Assert.Throws<ArgumentException>(() => new OrchestratorClient(http, new OrchestratorClientOptions { ApiKey = apiKey }));
        Assert.Equal(0, handler.Calls);
    }

    [Theory]
    [InlineData("localhost:3000")]
    [InlineData("/relative")]
    [InlineData("ftp://api.test/")]
    [InlineData("not a url")]
    public void AddOrchestratorClient_AnAddressNotHttp_IsRefusedAtRegistration(string address)
    {
        // Outside audit: "localhost:3000" (a URI of scheme 'localhost') was taken, and every call failed.
        Assert.Throws<ArgumentException>(() => new ServiceCollection().AddOrchestratorClient(address));
    }

    [Theory]
    [InlineData("http://localhost:3000")]
    [InlineData("https://api.example.com/orchestrator/")]
    [InlineData("https+http://api")]
    public void AddOrchestratorClient_HttpAddressesAndServiceNames_AreTaken(string address)
    {
        var services = new ServiceCollection();
        services.AddOrchestratorClient(address);
        using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetRequiredService<OrchestratorClient>());
    }

    [Theory]
    [InlineData("http://api.test/orchestrator", true)]
    [InlineData("http://api.test/orchestrator/", false)]
    [InlineData("http://api.test", false)]
    public void AClientOverAnAddressWhosePathDoesNotEndInASlash_IsAnArgumentException(string address, bool refused)
    {
        // Outside audit: "http://host/prefix" sent GET /models to http://host/models, not under its prefix.
        using var http = new HttpClient { BaseAddress = new Uri(address) };

        var error = Record.Exception(() => new OrchestratorClient(http));

        Assert.Equal(refused, error is ArgumentException);
        Assert.True(refused || error is null);
    }

    [Theory]
    [InlineData(" key-0123456789")]
    [InlineData("key-0123456789 ")]
    [InlineData(" ")]
    public async Task IdempotencyKeyWithASpaceAtEitherEnd_IsAnArgumentException_BeforeAnythingIsSent(string key)
    {
        // Outside audit: HTTP dropped the spaces, so "k " created or replayed the job of "k", reported as "k ".
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Json(HttpStatusCode.OK, CompletedJob)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        await Assert.ThrowsAsync<ArgumentException>(() => client.SubmitAsync(new JobSubmission("p"), key, TestContext.Current.CancellationToken));
        Assert.Equal(0, handler.Calls);
    }

    [Fact]
    public void AClientOverAnHttpClientWithoutAddress_IsAnArgumentException()
    {
        using var http = new HttpClient();
        Assert.Throws<ArgumentException>(() => new OrchestratorClient(http));
    }

    [Fact]
    public async Task WaitAsync_NoSuchJob_ThrowsTheApisOwnProblem()
    {
        // Outside audit: a 404 made up by the client, without the API's type and trace id.
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Problem(HttpStatusCode.NotFound,
            """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.5","title":"Job not found","status":404,"detail":"No such job.","traceId":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}""",
            retryAfterSeconds: null)));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() => client.WaitAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.Equal((404, "https://tools.ietf.org/html/rfc9110#section-15.5.5", "No such job."), (error.Status, error.Type, error.Detail));
        Assert.Equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", error.TraceId);
    }

    [Fact]
    public async Task SubmitAsync_CanceledByTheCaller_TheCancellationCarriesTheKey()
    {
        // The API may take the job after the caller gave up (a paused API resumed): only the key finds it.
        var handler = new ScriptedHandler(async (_, cancellationToken) =>
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return Json(HttpStatusCode.Accepted, "{}");
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);
        using var canceled = new CancellationTokenSource();

        var submit = client.SubmitAsync(new JobSubmission("p"), cancellationToken: canceled.Token);
        await AsyncWait.WaitUntilAsync(() => handler.Calls == 1, TimeSpan.FromSeconds(10), "the submission is sent");
        await canceled.CancelAsync();

        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => submit.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(Assert.Single(handler.IdempotencyKeys), error.Data[OrchestratorClient.IdempotencyKeyData]);
    }

    [Fact]
    public async Task AnAnswerThatIsNotTheJsonExpected_IsAProblemWithItsStatus_AndASubmissionsCarriesTheKey()
    {
        // A proxy's page with a 2xx, a body cut short: a bare JsonException before (an outside audit).
        var handler = new ScriptedHandler((call, _) => Task.FromResult(new HttpResponseMessage(call == 1 ? HttpStatusCode.Accepted : HttpStatusCode.OK)
        {
            Content = new StringContent("<<not json>>", Encoding.UTF8, "application/json"),
        }));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") };
        var client = new OrchestratorClient(http);

        var submitted = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.SubmitAsync(new JobSubmission("p"), "my-key", TestContext.Current.CancellationToken));
        var read = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.GetAsync("AAAAAAAAAAAAAAAAAAAAAA", TestContext.Current.CancellationToken));
        var listed = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.ListJobsAsync(cancellationToken: TestContext.Current.CancellationToken));

        Assert.Equal((202, "Unreadable answer", "my-key"), (submitted.Status, submitted.Title, submitted.IdempotencyKey));
        Assert.Equal((200, "Unreadable answer"), (read.Status, read.Title));
        Assert.Equal((200, "Unreadable answer"), (listed.Status, listed.Title));
        Assert.Contains("GET /jobs/AAAAAAAAAAAAAAAAAAAAAA", read.Detail, StringComparison.Ordinal);
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Problem(HttpStatusCode status, string body, int? retryAfterSeconds)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/problem+json") };
        if (retryAfterSeconds is { } seconds)
        {
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
        }

        return response;
    }
}
