using Microsoft.Extensions.Options;
using Orchestrator.Client;
using Orchestrator.ServiceDefaults;
using Orchestrator.Web;
using Orchestrator.Web.Components;

// The jobs page (README "Jobs page"): counts, the job list, a job's detail, dead letters; cancel and
// redrive; every read and action through the API, as any client would.
var builder = WebApplication.CreateBuilder(args);

// The page acts with an admin key, and has no sign-in: a page elsewhere that points its own name at
// this address (DNS rebinding) would read and act through it. Loopback names only, unless AllowedHosts
// names the host it is served as (behind an ingress, that host).
builder.Configuration["AllowedHosts"] ??= "localhost;127.0.0.1;[::1]";

builder.AddServiceDefaults();
builder.Services.AddValidatedOptions<WebOptions>(WebOptions.Section);
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddHttpClient<OrchestratorClient>((services, http) =>
    http.BaseAddress = new Uri(services.GetRequiredService<IOptions<WebOptions>>().Value.ApiUrl.TrimEnd('/') + "/"))
    .AddTypedClient((http, services) => new OrchestratorClient(http,
        new OrchestratorClientOptions { ApiKey = services.GetRequiredService<IOptions<WebOptions>>().Value.ApiKey }));

var app = builder.Build();
if (!app.ConfigurationIsValid())
{
    return 1;
}

app.UseAntiforgery();
app.MapStaticAssets();
app.MapDefaultEndpoints();
app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
app.Run();
return 0;
