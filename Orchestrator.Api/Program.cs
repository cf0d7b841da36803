using Orchestrator.Api;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Scalar.AspNetCore;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();

// Registers IConnectionMultiplexer and a Redis health check, so /health is ready only when Redis
// answers. AbortOnConnectFail=false: start even while Redis is down and reconnect in the background;
// FailFast + short timeouts: while Redis is away a request fails (503) within seconds, not a hang.
builder.AddRedisClient("redis", configureOptions: options =>
{
    options.AbortOnConnectFail = false;
    options.BacklogPolicy = BacklogPolicy.FailFast;
    options.ConnectTimeout = 3000;
    options.AsyncTimeout = 3000;
    options.SyncTimeout = 3000;
});

builder.Services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<RetryOptions>().BindConfiguration(RetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddJobStore();
builder.Services.AddSingleton<OrchestratorMetrics>();

builder.Services.AddProblemDetails();
builder.Services.AddExceptionHandler<RedisUnavailableHandler>();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
builder.Services.AddOpenApi();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapOpenApi();
if (app.Environment.IsDevelopment())
{
    app.MapScalarApiReference();
}

app.MapDefaultEndpoints();
app.MapJobsApi();

app.Run();
