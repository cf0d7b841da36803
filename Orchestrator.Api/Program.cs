using System.Text.Json.Serialization;
using Orchestrator.Api;
using Orchestrator.Api.Auth;
using Orchestrator.Api.Jobs;
using Orchestrator.Api.OpenApi;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.ServiceDefaults;
using Scalar.AspNetCore;
using StackExchange.Redis;

// The settings next to the binary, wherever it is started from: with the working directory as the
// content root (the default), `dotnet path/to/Orchestrator.Api.dll` run from elsewhere read no
// appsettings.json and logged four Information lines per request (measured: ~30 % fewer requests/s).
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
// First, before any value is set (replacing a source loads the configuration again): each
// tenant's lookups scanned every variable, so the start grew with the square of the tenants.
builder.Configuration.UseIndexedEnvironmentVariables();

builder.AddServiceDefaults();

// Registers IConnectionMultiplexer and a Redis health check, so /health is ready only when Redis
// answers; the connection fails fast while Redis is away (ApiRedisConnection).
builder.AddTracedRedisClient("redis", ApiRedisConnection.Configure);

builder.Services.AddValidatedOptions<ApiOptions>(ApiOptions.Section);
builder.Services.AddValidatedOptions<RedisWaitOptions>(RedisWaitOptions.Section);
// Kestrel answers what it refuses before the app runs with an empty body (not customisable), so
// the refusals that matter here happen in the app, as problems: a header value with a non-ASCII
// byte reaches the app (read as Latin-1) and gets a 400 problem from the header's own check, and
// headers are limited by RequestHeadersLimit (431 problem) below Kestrel's own, larger limit.
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.RequestHeaderEncodingSelector = _ => System.Text.Encoding.Latin1;
    kestrel.Limits.MaxRequestHeadersTotalSize = 2 * RequestHeadersLimit.MaxTotalSize;
});
builder.Services.AddValidatedOptions<RetryOptions>(RetryOptions.Section);
builder.Services.AddValidatedOptions<WebhookOptions>(WebhookOptions.Section);
// The API signs nothing: it holds none of the workers' signing keys, and does not check them. The
// AppHost sets each key it was given empty in the API's environment, and an empty tenant's key,
// refused where it signs, stopped the API.
builder.Services.PostConfigure<WebhookOptions>(webhooks =>
{
    webhooks.Secret = null;
    webhooks.TenantSecrets.Clear();
});
builder.Services.AddApiKeyAuthentication();
builder.Services.AddTenantReadLimits();
builder.Services.AddTenantQuotas().AddKnownSettings(TenantQuotaOptions.Section, typeof(Dictionary<string, TenantQuotas>));
builder.Services.AddValidatedOptions<JobsOptions>(JobsOptions.Section);
// Before AddJobStore (which adds the worker's): the API's refusals are clients' re-sends, further apart.
builder.Services.AddSingleton(services => new RedisRetryStreaks(services.GetRequiredService<TimeProvider>(), RedisRetryStreaks.ApiGap));
builder.Services.AddJobStore();
builder.Services.AddModelCatalog().AddKnownSettings(LlmOptions.Section, typeof(LlmOptions));
// The catalogue reads Simulator:Model (the default with no provider): a value it cannot read stops the start, not each request.
builder.Services.AddValidatedOptions<Orchestrator.Llm.Simulation.SimulatorOptions>(Orchestrator.Llm.Simulation.SimulatorOptions.Section);
// Maps and lists whose bad entries the binder drops without a word (ConfigurationEntriesCheck).
builder.Services.AddConfigurationEntriesCheck<TenantQuotas>(TenantQuotaOptions.Section)
    .AddConfigurationEntriesCheck<string>($"{TenantQuotaOptions.Section}:*:ApiKeys")
    .AddConfigurationEntriesCheck<string>($"{AuthOptions.Section}:{nameof(AuthOptions.AdminKeys)}")
    .AddConfigurationEntriesCheck<ProviderOptions>("Llm:Providers")
    .AddConfigurationEntriesCheck<ModelOptions>("Llm:Providers:*:Models");
builder.Services.AddSingleton<SubmitWriter>();
// Degraded while Redis refuses the submissions' writes (it answers PING meanwhile: the Redis check stays healthy),
// and while its memory is near maxmemory, before the first refusal.
builder.Services.AddHealthChecks().Add(RedisPartitionsHealthCheck.Registration()).Add(RedisRetriesHealthCheck.Api())
    .Add(RedisMemoryHealthCheck.Registration());
builder.Services.AddSingleton<JobNotifications>();
builder.Services.AddSingleton<JobCountsCache>();
builder.Services.AddHostedService(static services => services.GetRequiredService<JobNotifications>());
builder.Services.AddSingleton<OrchestratorMetrics>();

builder.Services.AddProblemDetailsForAnyAccept(options => options.CustomizeProblemDetails = ApiProblemDefaults.Customize);
builder.Services.AddExceptionHandler<RedisUnavailableHandler>();
builder.Services.AddExceptionHandler<ReplicasNotConfirmedHandler>();
builder.Services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
    // Numbers are numbers: the OpenAPI document then types them as such, not "integer | string".
    o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
    // A member named twice is refused, as ApiJsonContext refuses it in POST /jobs, not "the last wins"
    // (the filtered redrive's body is read with these options).
    o.SerializerOptions.AllowDuplicateProperties = false;
    // The context's own options do not carry over to these: times are fixed-width here too.
    o.SerializerOptions.Converters.Add(new UtcTimestampConverter());
});
builder.Services.AddOpenApi(options => options.AddOrchestratorContract().AddDocumentTransformer<ApiKeySecurityTransformer>());

var app = builder.Build();

// A bad setting ends the start with one line naming its key and exit code 1, not a stack trace.
if (!app.ConfigurationIsValid())
{
    return 1;
}

// Connect to Redis before the first request, not during it: the client connects synchronously
// (up to ConnectTimeout), and when an API restarted under load resolves it inside a burst of
// requests, the blocked threads starve the thread pool; the chaos run saw ~10 s of hangs and 503s
// with Redis up. With AbortOnConnectFail=false this returns even while Redis is down.
app.Services.GetRequiredService<IConnectionMultiplexer>();

// An evicting maxmemory-policy could delete the jobs stream: refuse to run on one (logged, exit 1).
if (!await app.Services.CheckRedisEvictionPolicyAsync())
{
    // Disposed first: that flushes the console logger's queue, which holds the line saying why
    // (a run of the suite saw a worker exit 1 having written nothing).
    await app.DisposeAsync();
    return 1;
}

// Anyone who reaches the port acts as tenant 'default': meant for a local run (the AppHost's), so said
// at start of any other.
if (!app.Environment.IsDevelopment() && app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthOptions>>().Value.AllowAnonymous)
{
    AuthLog.AnonymousOutsideDevelopment(app.Logger, app.Environment.EnvironmentName);
}

app.UseNoSniff();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseMiddleware<RequestHeadersLimit>();
app.UseMiddleware<TransferCodingCheck>();
app.UseAuthentication();
app.UseAuthorization();
app.UseTenantLogScope();
// After authentication: reads are counted by the caller's tenant. Only when Api:ReadsPerSecondPerTenant
// is set: otherwise no request passes through the limiter at all (POST /jobs is S1's hot path).
if (app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.ReadsPerSecondPerTenant is not null)
{
    app.UseRateLimiter();
}

// The contract is public; the operations it describes need a key. Only its one document is routed:
// the framework's own endpoint answers any other name with a text/plain 404, not a problem.
app.MapOpenApi("/openapi/{documentName:regex(^v1$)}.json").AllowAnonymous().AlsoHead();
if (app.Environment.IsDevelopment())
{
    app.MapScalarApiReference().AllowAnonymous();
}

app.MapDefaultEndpoints();
app.MapJobsApi();
app.MapJobListingApi();
app.MapJobEventsApi();
app.MapJobControlApi();
app.MapModelsApi();

// 1 when an address could not be bound, or the eviction-policy guard stopped the service after start.
return await app.RunUntilStoppedAsync();
