using Microsoft.Extensions.Configuration;
using Orchestrator.AppHost;

// The dependency graph. Settings (docs/configuration.md): Redis:Mode, Redis:DataPath, Redis:Port,
// Redis:NodeTimeout, Api:Port, Api:Replicas, Worker:Replicas; Redis:WaitReplicas, Redis:WaitTimeout and
// the Simulator, Retry, Jobs, Worker, Api, Auth, Tenants (to workers: without the API keys), Webhooks and Llm
// sections are handed on to the services (Jobs:Partitions also places the local cluster's partitions);
// workers sign webhooks with the secret parameter webhooks-secret.
// A local run also opens the API to anonymous callers and gives it a dev key; the jobs page (Web:Port,
// default 3300) calls the API with an admin key of its own.
var builder = DistributedApplication.CreateBuilder(args);

// A bad AppHost setting ends the start with one line naming it and exit code 1, as the services' do.
if (!AppHostSettings.AreValid(builder.Configuration))
{
    return 1;
}

var redis = builder.AddOrchestratorRedis("redis");

var api = builder.AddProject<Projects.Orchestrator_Api>("api")
    .WithReference(redis).WaitForRedis(redis)
    .WithHttpEndpointPort(builder.Configuration.GetValue("Api:Port", defaultValue: 3000))
    .WithConfigurationSection("Api", except: ["Port", "Replicas"])
    .WithConfigurationSection("Redis", except: ["Mode", "DataPath", "Port", "MaxMemory", "NodeTimeout"])
    .WithReplicas(builder.Configuration.GetValue("Api:Replicas", defaultValue: 1))
    .WithConfigurationSection("Retry")
    .WithConfigurationSection("Jobs")
    // First, so that the Auth and Tenants sections below can override it (Auth__AllowAnonymous=false).
    .WithDevelopmentAccess()
    .WithConfigurationSection("Auth")
    .WithConfigurationSection("Tenants")
    // The API checks callback URLs (Webhooks:AllowPrivateNetworks); it signs nothing, so it gets no secret.
    .WithConfigurationSection("Webhooks", except: ["Secret", .. builder.Configuration.GetSection("Webhooks:TenantSecrets").AsEnumerable(makePathsRelative: true)
        .Select(setting => $"TenantSecrets:{setting.Key}")])
    .WithHttpHealthCheck("/health");

var worker = builder.AddProject<Projects.Orchestrator_Worker>("worker")
    .WithReference(redis).WaitForRedis(redis)
    .WithHttpEndpointPort(port: 0)
    .WithConfigurationSection("Simulator")
    .WithConfigurationSection("Retry")
    .WithConfigurationSection("Jobs")
    // The AppHost gives each replica its port (ASPNETCORE_URLS); Worker:HealthPort is for workers run by hand.
    .WithConfigurationSection("Worker", "Replicas", "HealthPort")
    // Fair sharing's aging of low-priority jobs (Scheduling:MaxLowPriorityWait) is the dispatcher's.
    .WithConfigurationSection("Scheduling")
    // Workers enforce Tenants:{t}:MaxConcurrency: they get the tenants' quotas, never their API keys.
    .WithConfigurationSection("Tenants", except: [.. builder.Configuration.GetSection("Tenants").AsEnumerable(makePathsRelative: true)
        .Select(setting => setting.Key).Where(key => key.Split(':') is [_, var name, ..] && name.Equals("ApiKeys", StringComparison.OrdinalIgnoreCase))])
    .WithReplicas(builder.Configuration.GetValue("Worker:Replicas", defaultValue: 1))
    // Signed webhooks: the secret parameter webhooks-secret; the rest of the section as configured.
    .WithWebhookSecret()
    .WithConfigurationSection("Webhooks", except: ["Secret"])
    .WithHttpHealthCheck("/health");

// Llm:Providers configured: API and worker read them (each provider's API key from a secret
// parameter). None configured: the OpenAI-compatible simulator runs and is the one provider, so a
// job takes the real HTTP path; settings of that provider alone (its limits) keep it so.
if (builder.Configuration.ConfiguresProviders())
{
    api.WithLlmProviders();
    worker.WithLlmProviders();
}
else
{
    var simulator = builder.AddProject<Projects.Orchestrator_LlmSimulator>("llm-simulator")
        .WithHttpEndpointPort(port: 0)
        .WithConfigurationSection("Simulator")
        .WithHttpHealthCheck("/health");
    api.WithSimulatorProvider(simulator);
    worker.WithSimulatorProvider(simulator);
}

// The jobs page, beside the dashboard; its address shows on the API's resource.
builder.AddJobsPage(api);

// A service that ends with an error says so on this console, with its last lines of standard error.
builder.AddServiceExitReport();

// Last: secrets given to the AppHost as environment variables reach only the services handed them.
builder.KeepInheritedSecretsOut();

builder.Build().Run();
return 0;
