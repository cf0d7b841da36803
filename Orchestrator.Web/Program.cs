using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orchestrator.Client;
using Orchestrator.ServiceDefaults;
using Orchestrator.Web;
using Orchestrator.Web.Components;

// The jobs page (README "Jobs page"): counts, the job list, a job's detail, dead letters; cancel and
// redrive; every read and action through the API, as any client would.
// Content (the static assets' manifests, appsettings) is read from the build's output, wherever the
// process is started: from the working directory, blazor.web.js answered empty and the page never connected.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

// The page acts with an admin key, and has no sign-in: a page elsewhere that points its own name at
// this address (DNS rebinding) would read and act through it. Loopback names only, unless AllowedHosts
// names the host it is served as (behind an ingress, that host).
// Set but empty, it would allow every host (the rebinding guard off without a word): the default too.
if (string.IsNullOrWhiteSpace(builder.Configuration["AllowedHosts"]))
{
    builder.Configuration["AllowedHosts"] = "localhost;127.0.0.1;[::1]";
}

builder.AddServiceDefaults();
builder.Services.AddValidatedOptions<WebOptions>(WebOptions.Section);
builder.Services.AddRazorComponents().AddInteractiveServerComponents();
builder.Services.AddScoped<CircuitConnection>();
builder.Services.TryAddSingleton(TimeProvider.System);
builder.Services.AddScoped<CircuitHandler>(services => services.GetRequiredService<CircuitConnection>());
// The client's own registration: without the resilience handlers the service defaults add to every
// client (retries and a 30 s total: a hung API showed nothing for 30 s, then ended the page's refresh).
// A live page reads again at its next refresh; one read waits Web:ApiTimeout, then says so.
builder.Services.AddOptions<OrchestratorClientOptions>().Configure<IOptions<WebOptions>>((client, web) => client.ApiKey = web.Value.ApiKey);
builder.Services.AddOrchestratorClient(services => services.GetRequiredService<IOptions<WebOptions>>().Value.ApiAddress)
    .ConfigureHttpClient((services, http) => http.Timeout = services.GetRequiredService<IOptions<WebOptions>>().Value.ApiTimeout);

var app = builder.Build();
if (!app.ConfigurationIsValid())
{
    return 1;
}

// What a browser may load and run: this page's own scripts, styles (and Blazor's inline reconnect
// styles), and its connection back; it acts with an admin key, so an injected script is worth denying.
app.Use((context, next) =>
{
    var headers = context.Response.Headers;
    headers.ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";
    headers.XContentTypeOptions = "nosniff";
    headers["Referrer-Policy"] = "no-referrer";
    return next(context);
});
// An address no page has: the page's own "Not found" (in its layout, with a way back), still a 404.
app.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
app.UseAntiforgery();
app.MapStaticAssets();
app.MapDefaultEndpoints();
// The policy above carries frame-ancestors; Blazor's own header would be a second policy.
app.MapRazorComponents<App>().AddInteractiveServerRenderMode(options => options.ContentSecurityFrameAncestorsPolicy = null);
// 1 when an address could not be bound.
return await app.RunUntilStoppedAsync();
