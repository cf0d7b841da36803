using Microsoft.Extensions.AI;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Processing;
using StackExchange.Redis;

// The worker is a web application only so that it can answer /health and /alive.
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();

// Registers IConnectionMultiplexer and a Redis health check, so /health is ready only when Redis
// answers. AbortOnConnectFail=false: start even while Redis is down and reconnect in the background.
builder.AddRedisClient("redis", configureOptions: options =>
{
    options.AbortOnConnectFail = false;
    options.BacklogPolicy = BacklogPolicy.FailFast;
});

builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<RetryOptions>().BindConfiguration(RetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddOptions<SimulatorOptions>().BindConfiguration(SimulatorOptions.Section).ValidateDataAnnotations().ValidateOnStart();

builder.Services.AddJobStore();
builder.Services.AddSingleton<OrchestratorMetrics>();
builder.Services.AddSingleton<IChatClient, SimulatedChatClient>();
builder.Services.AddLlmPipeline();
builder.Services.AddSingleton<LeaseKeeper>();
builder.Services.AddSingleton<JobProcessor>();
builder.Services.AddSingleton<BlockingRedisConnection>();
builder.Services.AddHostedService<JobWorker>();

var app = builder.Build();

app.MapDefaultEndpoints();

app.Run();
