using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// A receiver that never answers, beside one that answers at once, sent to by one real worker
/// (a process, real Redis, receivers on loopback): the slow one holds one delivery slot until
/// <c>Webhooks:RequestTimeout</c>, and the other receiver's delivery goes out meanwhile; the
/// try it held is dated when it was sent. A receiver that asks for time (<c>Retry-After</c>) gets it.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookSlowReceiverTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task HangingReceiver_DoesNotHoldUpAnotherReceiversDelivery()
    {
        await using var hanging = await WebhookReceiver.StartAsync();
        hanging.Hang = true;
        await using var answering = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(Settings(RequestTimeout), "worker");

        await SubmitAsync(harness, hanging.Address);
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(hanging.Received.Count == 1),
            TimeSpan.FromSeconds(30), "the hanging receiver got its request", TimeSpan.FromMilliseconds(20));

        // The hanging try is in flight for RequestTimeout from now; the other job's delivery must not wait for it.
        var submitted = DateTimeOffset.UtcNow;
        await SubmitAsync(harness, answering.Address);
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(answering.Received.Count == 1),
            TimeSpan.FromSeconds(30), "the answering receiver got its delivery", TimeSpan.FromMilliseconds(20));

        var waited = answering.Received[0].At - submitted;
        Assert.True(waited < RequestTimeout / 2,
            $"delivered {waited.TotalMilliseconds:F0} ms after its job was submitted, while another receiver hung (RequestTimeout {RequestTimeout})");
        Assert.Equal(200, answering.Received[0].AnsweredStatus);
    }

    [Fact]
    public async Task HangingReceiverWithManyDeliveries_TakesNoSlotOnceItsCircuitOpens_AnotherReceiverIsServed()
    {
        // Two slots, both for one receiver if it wants them: without a circuit every slot went to the
        // hanging receiver's tries (3 s each) until they had all been tried, and the other receiver's
        // delivery waited ~5 rounds.
        var requestTimeout = TimeSpan.FromSeconds(3);
        await using var run = await HangingThenAnsweringAsync(requestTimeout, new()
        {
            ["Webhooks:MaxConcurrentDeliveries"] = "2",
            ["Webhooks:MaxConcurrentPerReceiver"] = "2",
            ["Webhooks:MaxConcurrentPerTenant"] = "2",
            ["Webhooks:CircuitFailures"] = "2",
            ["Webhooks:CircuitBreakDuration"] = "00:01:00",
        });

        // The two tries in flight end at their timeout, open the circuit, and the other eight go unsent.
        Assert.True(run.Waited < requestTimeout * 2, run.Says);
        Assert.Equal(2, run.Hanging.Received.Count);
        // Each unsent delivery is a failed try that says why, due again when the break ends.
        WebhookDelivery? unsent = null;
        await AsyncWait.WaitUntilAsync(async () =>
        {
            foreach (var jobId in run.HangingJobs)
            {
                if ((await run.Harness.GetAsync(jobId)).Webhooks.SingleOrDefault() is { Attempts: 1 } d && d.Tries[0].Error?.StartsWith("not sent", StringComparison.Ordinal) == true)
                {
                    unsent = d;
                    return true;
                }
            }

            return false;
        }, TimeSpan.FromSeconds(30), "an unsent delivery is recorded", TimeSpan.FromMilliseconds(100));
        Assert.Contains("Webhooks:CircuitFailures", unsent!.Tries[0].Error, StringComparison.Ordinal);
        Assert.Contains("no answer within", unsent.Tries[0].Error, StringComparison.Ordinal);
        Assert.Equal(0, unsent.Tries[0].StatusCode);
        Assert.True(unsent.NextAttemptAt > unsent.Tries[0].At + TimeSpan.FromSeconds(40), $"next try due {unsent.NextAttemptAt:O}, tried {unsent.Tries[0].At:O}");
        Assert.Equal(2, run.Hanging.Received.Count);
    }

    [Fact]
    public async Task HangingReceiverWithManyDeliveries_HoldsItsShareOfTheSlots_AnotherReceiverIsServedAtOnce()
    {
        // Four slots, two for one receiver at most, circuits off: the hanging receiver's tries take two,
        // the other's goes out at once. Without the share they took all four, round after round.
        var requestTimeout = TimeSpan.FromSeconds(4);
        await using var run = await HangingThenAnsweringAsync(requestTimeout, new()
        {
            ["Webhooks:MaxConcurrentDeliveries"] = "4",
            ["Webhooks:MaxConcurrentPerReceiver"] = "2",
            ["Webhooks:CircuitFailures"] = "0",
        });

        Assert.True(run.Waited < requestTimeout / 2, run.Says);
        Assert.Equal(2, run.Hanging.Received.Count);
        // The deliveries put back were not tried, and no try was counted for them: the tries recorded
        // are at most those the receiver got.
        var recorded = 0;
        foreach (var jobId in run.HangingJobs)
        {
            recorded += Assert.Single((await run.Harness.GetAsync(jobId)).Webhooks).Attempts;
        }

        Assert.InRange(recorded, 0, run.Hanging.Received.Count);
    }

    [Fact]
    public async Task ABurstToOneReceiver_PastItsShare_IsDeliveredAtTheReceiversPace_NotAShareAPoll()
    {
        // 100 deliveries to a receiver that answers at once, two slots of four for it, polls 2 s apart.
        // Those put back waited a whole poll before: the receiver got about its share per poll, and the
        // burst took tens of seconds (45 s with polls 5 s apart). Now they come due as the receiver's slots free.
        var pollInterval = TimeSpan.FromSeconds(2);
        await using var answering = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = Settings(TimeSpan.FromSeconds(5));
        settings["Webhooks:PollInterval"] = pollInterval.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        settings["Webhooks:MaxConcurrentDeliveries"] = "4";
        settings["Webhooks:MaxConcurrentPerReceiver"] = "2";
        await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => SubmitAsync(harness, answering.Address)));

        await harness.StartWorkerAsync(settings, "worker");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(answering.Received.Count >= 100),
            TimeSpan.FromSeconds(120), "the burst delivered", TimeSpan.FromMilliseconds(20));

        var received = answering.Received;
        var took = received.Max(r => r.At) - received.Min(r => r.At);
        TestContext.Current.TestOutputHelper?.WriteLine($"100 delivered in {took.TotalMilliseconds:F0} ms");
        Assert.True(took < pollInterval * 2, $"100 deliveries took {took.TotalMilliseconds:F0} ms, polls {pollInterval} apart");
        Assert.Equal(100, received.Select(r => r.Id).Distinct().Count());
    }

    [Fact]
    public async Task TenantsCallbacksToManyHangingReceivers_HoldItsShareOfTheSlots_AnotherTenantIsServedAtOnce()
    {
        // Four slots, two per receiver, two per tenant, circuits off: one tenant's callbacks to two
        // receivers that hang take two slots, the other tenant's delivery goes out at once. Without the
        // tenant's share they took all four (two per receiver), round after round.
        var requestTimeout = TimeSpan.FromSeconds(4);
        await using var run = await HangingThenAnsweringAsync(requestTimeout, new()
        {
            ["Webhooks:MaxConcurrentDeliveries"] = "4",
            ["Webhooks:MaxConcurrentPerReceiver"] = "2",
            ["Webhooks:MaxConcurrentPerTenant"] = "2",
            ["Webhooks:CircuitFailures"] = "0",
        }, hangingReceivers: 2, hangingTenant: "tenant-a", answeringTenant: "tenant-b");

        Assert.True(run.Waited < requestTimeout / 2, run.Says);
        Assert.Equal(2, run.HangingRequests);
    }

    [Fact]
    public async Task TwoTenantsHangingReceivers_LeaveTheReserve_AThirdTenantIsServedAtOnce()
    {
        // Eight slots with the default shares (4 a receiver, 6 a tenant), circuits off: two tenants'
        // receivers that hang took 4 + 4, every slot, and a third tenant's delivery waited a
        // RequestTimeout (an audit: 11.6-12.4 s with the defaults). The last free slot is kept for a
        // receiver and tenant holding none.
        var requestTimeout = TimeSpan.FromSeconds(4);
        await using var run = await HangingThenAnsweringAsync(requestTimeout, new()
        {
            ["Webhooks:MaxConcurrentDeliveries"] = "8",
            ["Webhooks:CircuitFailures"] = "0",
        }, hangingReceivers: 2, hangingTenant: "tenant-a", answeringTenant: "tenant-c", tenantPerHangingReceiver: true);

        Assert.True(run.Waited < requestTimeout / 2, run.Says);
        Assert.Equal(7, run.HangingRequests);
    }

    /// <summary>
    /// Ten deliveries to each of <paramref name="hangingReceivers"/> receivers that hang, of
    /// <paramref name="hangingTenant"/>'s jobs (or, with <paramref name="tenantPerHangingReceiver"/>,
    /// receiver r's of <paramref name="hangingTenant"/>-r's), all due before one to a receiver that answers, of
    /// <paramref name="answeringTenant"/>'s, sent by one worker with <paramref name="overrides"/>: the
    /// answering one is submitted once the hanging receivers have two tries in flight, and
    /// <see cref="HangingRun.Waited"/> is how long after its submission it arrived. The receivers and
    /// the harness stay up for the caller's checks.
    /// </summary>
    private static async Task<HangingRun> HangingThenAnsweringAsync(TimeSpan requestTimeout, Dictionary<string, string> overrides,
        int hangingReceivers = 1, string hangingTenant = TenantNames.Default, string answeringTenant = TenantNames.Default,
        bool tenantPerHangingReceiver = false)
    {
        var run = new HangingRun(await WebhookReceiver.StartAsync(), await WorkerHarness.StartAsync());
        try
        {
            for (var r = 0; r < hangingReceivers; r++)
            {
                var hanging = await WebhookReceiver.StartAsync();
                hanging.Hang = true;
                run.AllHanging.Add(hanging);
            }

            var settings = Settings(requestTimeout);
            foreach (var (key, value) in overrides)
            {
                settings[key] = value;
            }

            for (var i = 0; i < 10; i++)
            {
                for (var r = 0; r < run.AllHanging.Count; r++)
                {
                    var tenant = tenantPerHangingReceiver ? $"{hangingTenant}-{r}" : hangingTenant;
                    run.HangingJobs.Add(await SubmitAsync(run.Harness, run.AllHanging[r].Address, tenant));
                }
            }

            await run.Harness.StartWorkerAsync(settings, "worker");
            await AsyncWait.WaitUntilAsync(() => Task.FromResult(run.HangingRequests >= 2),
                TimeSpan.FromSeconds(30), "the hanging receivers have two tries in flight", TimeSpan.FromMilliseconds(20));
            var submitted = DateTimeOffset.UtcNow;
            await SubmitAsync(run.Harness, run.Answering.Address, answeringTenant);
            await AsyncWait.WaitUntilAsync(() => Task.FromResult(run.Answering.Received.Count == 1),
                TimeSpan.FromSeconds(60), "the answering receiver got its delivery", TimeSpan.FromMilliseconds(20));
            run.Waited = run.Answering.Received[0].At - submitted;
            TestContext.Current.TestOutputHelper?.WriteLine(run.Says);
            return run;
        }
        catch
        {
            await run.DisposeAsync();
            throw;
        }
    }

    private sealed class HangingRun(WebhookReceiver answering, WorkerHarness harness) : IAsyncDisposable
    {
        public List<WebhookReceiver> AllHanging { get; } = [];

        /// <summary>The first receiver that hangs (the only one, unless asked for more).</summary>
        public WebhookReceiver Hanging => AllHanging[0];

        /// <summary>The requests every receiver that hangs got.</summary>
        public int HangingRequests => AllHanging.Sum(r => r.Received.Count);

        public WebhookReceiver Answering { get; } = answering;

        public WorkerHarness Harness { get; } = harness;

        public List<string> HangingJobs { get; } = [];

        public TimeSpan Waited { get; set; }

        public string Says => $"delivered {Waited.TotalMilliseconds:F0} ms after its job was submitted; the hanging receivers got {HangingRequests} requests";

        public async ValueTask DisposeAsync()
        {
            await Harness.DisposeAsync();
            await Answering.DisposeAsync();
            foreach (var hanging in AllHanging)
            {
                await hanging.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task HangingReceiver_TryIsDatedWhenItWasSent_NotWhenItTimedOut()
    {
        var requestTimeout = TimeSpan.FromSeconds(3);
        await using var hanging = await WebhookReceiver.StartAsync();
        hanging.Hang = true;
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(Settings(requestTimeout), "worker");

        var jobId = await SubmitAsync(harness, hanging.Address);
        var delivery = await FirstTryRecordedAsync(harness, jobId);

        // The receiver's clock and Redis's are this machine's; the try ended RequestTimeout after it arrived.
        var arrived = hanging.Received[0].At;
        var tried = delivery.Tries[0];
        Assert.Equal(0, tried.StatusCode);
        foreach (var (name, at) in new[] { ("tries[0].at", tried.At), ("firstAttemptAt", delivery.FirstAttemptAt!.Value), ("lastAttemptAt", delivery.LastAttemptAt!.Value) })
        {
            Assert.True(Math.Abs((at - arrived).TotalMilliseconds) < 1000,
                $"{name} {at:O} is not when the try was sent: the receiver got it at {arrived:O} and held it {requestTimeout}");
        }

        // The next try waits BaseDelay (1 s) after the try ended, not after it was sent.
        Assert.True(delivery.NextAttemptAt > arrived + requestTimeout, $"next try due {delivery.NextAttemptAt:O}");
    }

    [Theory]
    [InlineData(503, "3", 3)]
    [InlineData(429, "3600", 4)] // Webhooks:MaxDelay caps it.
    public async Task ReceiverAsksForTime_ItsRetryAfterLengthensTheWait_UpToMaxDelay(int status, string retryAfter, int waitSeconds)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        (receiver.FailUntil, receiver.FailStatus, receiver.RetryAfter) = (DateTimeOffset.MaxValue, status, retryAfter);
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(Settings(RequestTimeout), "worker");

        var jobId = await SubmitAsync(harness, receiver.Address);
        var delivery = await FirstTryRecordedAsync(harness, jobId);

        // Webhooks:BaseDelay (1 s) alone before; the wait runs from the try's end, a few ms after it was sent.
        var tried = delivery.Tries[0];
        var wait = delivery.NextAttemptAt!.Value - tried.At;
        Assert.InRange(wait, TimeSpan.FromSeconds(waitSeconds), TimeSpan.FromSeconds(waitSeconds + 1));
        Assert.Equal((status, $"HTTP {status}, Retry-After {retryAfter} s"), (tried.StatusCode, tried.Error));
    }

    /// <summary>The workers' <c>Webhooks:Secret</c> in <see cref="Settings"/>.</summary>
    internal const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=";

    internal static Dictionary<string, string> Settings(TimeSpan requestTimeout) => new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.010",
        ["Webhooks:Secret"] = Secret,
        ["Webhooks:AllowPrivateNetworks"] = "true",
        ["Webhooks:BaseDelay"] = "00:00:01",
        ["Webhooks:MaxDelay"] = "00:00:04",
        ["Webhooks:RequestTimeout"] = requestTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        ["Webhooks:LeaseTimeout"] = "00:00:30",
        ["Webhooks:PollInterval"] = "00:00:00.100",
    };

    /// <summary>The job's webhook delivery once its first try is recorded.</summary>
    private static async Task<WebhookDelivery> FirstTryRecordedAsync(WorkerHarness harness, string jobId)
    {
        WebhookDelivery? delivery = null;
        await AsyncWait.WaitUntilAsync(async () => (delivery = (await harness.GetAsync(jobId)).Webhooks.SingleOrDefault()) is { Attempts: >= 1 },
            TimeSpan.FromSeconds(30), "the first try recorded", TimeSpan.FromMilliseconds(50));
        return delivery!;
    }

    internal static async Task<string> SubmitAsync(WorkerHarness harness, Uri callbackUrl, string tenant = TenantNames.Default)
    {
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 1);
        job = job with { Tenant = tenant, Request = job.Request with { CallbackUrl = callbackUrl.ToString() } };
        Assert.Equal(SubmitOutcome.Created, (await harness.Store.SubmitAsync(job, idempotency: null).Bounded()).Outcome);
        return job.Id;
    }
}
