using Microsoft.Extensions.Options;
using Orchestrator.Llm.Simulation;
using Orchestrator.LlmSimulator;
using Orchestrator.ServiceDefaults;

// An OpenAI-compatible chat-completions server answered by the simulation engine (README "LLM simulator").
// Its settings next to its binary, wherever it is started from (as the API and worker): from elsewhere it
// read no appsettings.json and logged every request.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

builder.AddServiceDefaults();
builder.Services.AddValidatedOptions<SimulatorOptions>(SimulatorOptions.Section);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => new SimulationEngine(sp.GetRequiredService<IOptions<SimulatorOptions>>().Value, sp.GetRequiredService<TimeProvider>()));

var app = builder.Build();

// A bad setting ends the start with one line naming its key and exit code 1, not a stack trace.
if (!app.ConfigurationIsValid())
{
    return 1;
}

app.MapDefaultEndpoints();
app.MapOpenAIEndpoints();

// 1 when an address could not be bound.
return await app.RunUntilStoppedAsync();
