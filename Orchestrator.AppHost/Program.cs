using Microsoft.Extensions.Configuration;
using Orchestrator.AppHost;

// The dependency graph. Settings (docs/configuration.md): Redis:Mode, Redis:DataPath, Redis:Port,
// Redis:NodeTimeout, Api:Port, Api:Replicas, Worker:Replicas; Redis:WaitReplicas, Redis:WaitTimeout and
// the Simulator, Retry, Worker, Api, Auth and Tenants sections are handed on to the services. A local run also opens the API to anonymous callers and gives it a dev key.
var builder = DistributedApplication.CreateBuilder(args);

var redis = builder.AddOrchestratorRedis("redis");

builder.AddProject<Projects.Orchestrator_Api>("api")
    .WithReference(redis).WaitForRedis(redis)
    .WithHttpEndpointPort(builder.Configuration.GetValue("Api:Port", defaultValue: 3000))
    .WithConfigurationSection("Api", except: ["Port", "Replicas"])
    .WithConfigurationSection("Redis", except: ["Mode", "DataPath", "Port", "MaxMemory", "NodeTimeout"])
    .WithReplicas(builder.Configuration.GetValue("Api:Replicas", defaultValue: 1))
    .WithConfigurationSection("Retry")
    // First, so that the Auth and Tenants sections below can override it (Auth__AllowAnonymous=false).
    .WithDevelopmentAccess()
    .WithConfigurationSection("Auth")
    .WithConfigurationSection("Tenants")
    .WithHttpHealthCheck("/health");

builder.AddProject<Projects.Orchestrator_Worker>("worker")
    .WithReference(redis).WaitForRedis(redis)
    .WithHttpEndpointPort(port: 0)
    .WithConfigurationSection("Simulator")
    .WithConfigurationSection("Retry")
    // The AppHost gives each replica its port (ASPNETCORE_URLS); Worker:HealthPort is for workers run by hand.
    .WithConfigurationSection("Worker", "Replicas", "HealthPort")
    .WithReplicas(builder.Configuration.GetValue("Worker:Replicas", defaultValue: 1))
    .WithHttpHealthCheck("/health");

builder.Build().Run();
