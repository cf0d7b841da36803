using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm.FlowControl;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Processing;
using Orchestrator.Worker.Resilience;
using Orchestrator.Worker.Cancellation;
using Orchestrator.Worker.Streaming;
using Orchestrator.Worker.Webhooks;
using StackExchange.Redis;

// The worker is a web application only so that it can answer /health and /alive.
// The settings next to the binary, wherever it is started from (as the API): with the working
// directory as the content root, `dotnet path/to/Orchestrator.Worker.dll` run from elsewhere read no
// appsettings.json (its log levels: Polly's own lines at Error, not at Information).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
// First, before any value is set (replacing a source loads the configuration again): each
// tenant's lookups scanned every variable, so the start grew with the square of the tenants.
builder.Configuration.UseIndexedEnvironmentVariables();

builder.AddServiceDefaults();

// Without this every worker would listen on ASP.NET Core's default, localhost:5000, and a second
// worker on the same host would fail to start.
// (An unreadable value, or a port out of range, is left to the options validation, which names the
// key: as an address it was a second line, blaming ASPNETCORE_URLS, which nobody set.)
_ = int.TryParse(builder.Configuration[$"{WorkerOptions.Section}:{nameof(WorkerOptions.HealthPort)}"], out var healthPort);
if (healthPort is > 0 and <= System.Net.IPEndPoint.MaxPort || string.IsNullOrEmpty(builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey)))
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{(healthPort is > 0 and <= System.Net.IPEndPoint.MaxPort ? healthPort : 0)}");
}

// Registers IConnectionMultiplexer and a Redis health check, so /health is ready only when Redis
// answers. AbortOnConnectFail=false: start even while Redis is down and reconnect in the background.
builder.AddTracedRedisClient("redis", options =>
{
    options.AbortOnConnectFail = false;
    options.BacklogPolicy = BacklogPolicy.FailFast;
    // Replies are read and completed on the .NET thread pool, not on the client's own pool of
    // dedicated threads: on a small machine those threads and the thread pool's contend for the same
    // cores, and handing each reply from one to the other cost more CPU per job than the job itself.
    options.SocketManager = SocketManager.ThreadPool;
    // The client's Sentinel handling blocks pool threads (the API's answers waited 3–6 s per failover).
    SentinelThreads.ReserveFor(options);
});

builder.Services.AddValidatedOptions<WorkerOptions>(WorkerOptions.Section);
builder.Services.AddValidatedOptions<RetryOptions>(RetryOptions.Section);
builder.Services.AddValidatedOptions<SimulatorOptions>(SimulatorOptions.Section);
builder.Services.AddValidatedOptions<WebhookOptions>(WebhookOptions.Section);
builder.Services.AddValidatedOptions<SchedulingOptions>(SchedulingOptions.Section);

// Tenants:{t}:MaxConcurrency (permits leased like jobs), TokensPerMinute and Weight, enforced by the
// job store's scripts (dispatch.lua chooses the next jobs by fair share).
builder.Services.AddTenantQuotas().AddKnownSettings(TenantQuotaOptions.Section, typeof(Dictionary<string, TenantQuotas>));
builder.Services.AddSingleton(static sp => TenantPermits.From(
    sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<TenantQuotaOptions>>().Value,
    sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<WorkerOptions>>().Value.LeaseTimeout));
builder.Services.AddValidatedOptions<JobsOptions>(JobsOptions.Section);
builder.Services.AddJobStore();
builder.Services.AddSingleton<OrchestratorMetrics>();
// Redis's clock, read every 5 s with the queue stats: what a worker compares with the jobs' times.
builder.Services.AddSingleton<StoreClock>();
builder.Services.AddModelCatalog().AddKnownSettings(LlmOptions.Section, typeof(LlmOptions));
// Maps and lists whose bad entries the binder drops without a word (ConfigurationEntriesCheck).
builder.Services.AddConfigurationEntriesCheck<TenantQuotas>(TenantQuotaOptions.Section)
    .AddConfigurationEntriesCheck<ProviderOptions>("Llm:Providers")
    .AddConfigurationEntriesCheck<ModelOptions>("Llm:Providers:*:Models")
    .AddConfigurationEntriesCheck<string>($"{WebhookOptions.Section}:{nameof(WebhookOptions.TenantSecrets)}");
builder.Services.AddSingleton<SimulatedChatClient>();
builder.Services.AddSingleton<ChatClientRegistry>();
builder.Services.AddSingleton<DeploymentCircuits>();
builder.Services.AddSingleton<DeploymentFlowControl>();
builder.Services.AddSingleton<LlmCaller>();
builder.Services.AddLlmPipeline();
builder.Services.AddSingleton<LoopSupervisor>();
builder.Services.AddHealthChecks().AddCheck<WorkerLoopsHealthCheck>("worker-loops").Add(RedisPartitionsHealthCheck.Registration())
    .Add(RedisRetriesHealthCheck.Worker()).Add(RedisMemoryHealthCheck.Registration());
builder.Services.AddSingleton<LeaseKeeper>();
builder.Services.AddSingleton<ReclaimHold>();
builder.Services.AddSingleton<SoloGate>();
builder.Services.AddSingleton<OutcomeWriter>();
builder.Services.AddSingleton<JobProcessor>();
builder.Services.AddSingleton<ReadySignal>();
builder.Services.AddSingleton<TenantTokens>();
builder.Services.AddSingleton<DeltaCommit>();
builder.Services.AddSingleton<DeltaWriters>();
builder.Services.AddHostedService<JobWorker>();
builder.Services.AddHostedService<CancellationListener>();
builder.Services.AddSingleton<WebhookHttpClient>();
builder.Services.AddHostedService<WebhookSender>();
builder.Services.AddHostedService<WebhookOutboxGauge>();

var app = builder.Build();

// A bad setting ends the start with one line naming its key and exit code 1, not a stack trace.
if (!app.ConfigurationIsValid())
{
    return 1;
}

app.MapDefaultEndpoints();

// An evicting maxmemory-policy could delete the jobs stream: refuse to run on one (logged, exit 1).
if (!await app.Services.CheckRedisEvictionPolicyAsync())
{
    // Disposed first: that flushes the console logger's queue, which holds the line saying why
    // (a run of the suite saw a worker exit 1 having written nothing).
    await app.DisposeAsync();
    return 1;
}

// 1 when an address could not be bound, or the eviction-policy guard stopped the service after start.
return await app.RunUntilStoppedAsync();
