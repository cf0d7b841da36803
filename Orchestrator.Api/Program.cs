using Orchestrator.Api;
using Orchestrator.Api.Auth;
using Orchestrator.Api.Jobs;
using Orchestrator.Api.OpenApi;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Scalar.AspNetCore;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();

// Registers IConnectionMultiplexer and a Redis health check, so /health is ready only when Redis
// answers. AbortOnConnectFail=false: start even while Redis is down and reconnect in the background;
// FailFast + short timeouts: while Redis is away a request fails (503) within seconds, not a hang.
builder.AddTracedRedisClient("redis", options =>
{
    options.AbortOnConnectFail = false;
    options.BacklogPolicy = BacklogPolicy.FailFast;
    options.ConnectTimeout = 3000;
    options.AsyncTimeout = 3000;
    options.SyncTimeout = 3000;
});

builder.Services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<RedisWaitOptions>().BindConfiguration(RedisWaitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<RetryOptions>().BindConfiguration(RetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddApiKeyAuthentication();
builder.Services.AddJobStore();
builder.Services.AddSingleton<SubmitWriter>();
builder.Services.AddSingleton<OrchestratorMetrics>();

builder.Services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
{
    // Routing answers 415 itself when a Content-Type is not one an endpoint accepts
    // (.Accepts<T>(...)), before SubmitRequestReader sees the request; say what to send instead.
    if (context.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType && context.ProblemDetails.Detail is null)
    {
        context.ProblemDetails.Detail = "Send the job as JSON with 'Content-Type: application/json'.";
    }
});
builder.Services.AddExceptionHandler<RedisUnavailableHandler>();
builder.Services.AddExceptionHandler<ReplicasNotConfirmedHandler>();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
builder.Services.AddOpenApi(options => options.AddDocumentTransformer<ApiKeySecurityTransformer>());

var app = builder.Build();

// Connect to Redis before the first request, not during it: the client connects synchronously
// (up to ConnectTimeout), and when an API restarted under load resolves it inside a burst of
// requests, the blocked threads starve the thread pool; the chaos run saw ~10 s of hangs and 503s
// with Redis up. With AbortOnConnectFail=false this returns even while Redis is down.
app.Services.GetRequiredService<IConnectionMultiplexer>();

// An evicting maxmemory-policy could delete the jobs stream: refuse to run on one (logged, exit 1).
if (!await app.Services.CheckRedisEvictionPolicyAsync())
{
    return 1;
}

app.UseNoSniff();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();
app.UseTenantLogScope();

// The contract is public; the operations it describes need a key.
app.MapOpenApi().AllowAnonymous();
if (app.Environment.IsDevelopment())
{
    app.MapScalarApiReference().AllowAnonymous();
}

app.MapDefaultEndpoints();
app.MapJobsApi();

app.Run();

// 1 when the eviction-policy guard stopped the service after start.
return Environment.ExitCode;
