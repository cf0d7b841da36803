using Microsoft.Extensions.Options;
using Orchestrator.Llm.Simulation;
using Orchestrator.LlmSimulator;
using Orchestrator.ServiceDefaults;

// An OpenAI-compatible chat-completions server answered by the simulation engine (README "LLM simulator").
var builder = WebApplication.CreateBuilder(args);

builder.AddServiceDefaults();
builder.Services.AddOptions<SimulatorOptions>().BindConfiguration(SimulatorOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp => new SimulationEngine(sp.GetRequiredService<IOptions<SimulatorOptions>>().Value, sp.GetRequiredService<TimeProvider>()));

var app = builder.Build();

app.MapDefaultEndpoints();
app.MapOpenAIEndpoints();

app.Run();
