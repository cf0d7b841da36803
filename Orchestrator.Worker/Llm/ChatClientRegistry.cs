using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// The chat client for each served model: one OpenAI client per provider (its HTTP pipeline with
/// the SDK's retries off and no SDK timeout: the Polly pipeline is the one retry owner, and its
/// attempt timeout and the stream's idle limit (<see cref="StreamIdleTimer"/>) the only timeouts; a JSON body answered to a stream read as that stream,
/// <see cref="NonStreamedAnswerPolicy"/>; error events and other servers' finish reasons read, <see cref="ProviderEventPolicy"/>;
/// every body bounded, <see cref="BoundedBodyPolicy"/>, after an unasked-for coding is decoded, <see cref="ContentDecodingPolicy"/>), one in-process simulator shared by every simulated provider.
/// </summary>
public sealed class ChatClientRegistry : IDisposable
{
    private readonly ConcurrentDictionary<string, OpenAIClient> _providers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Provider, string Model), IChatClient> _clients = new();
    private readonly Lazy<IChatClient> _simulated;
    private readonly int _maxAnswerLength;

    public ChatClientRegistry(IServiceProvider services)
    {
        _simulated = new(() => services.GetRequiredService<SimulatedChatClient>());
        _maxAnswerLength = services.GetRequiredService<IOptions<LlmOptions>>().Value.MaxAnswerLength;
        // Every provider's key, not only those called yet: a gateway may echo any of them.
        ProviderSecrets.Add(services.GetRequiredService<IOptions<LlmOptions>>().Value.Providers.Values.Select(p => p.ApiKey));
    }

    /// <summary>The client that calls <paramref name="model"/>.</summary>
    public IChatClient For(ServedModel model) =>
        model.Provider.IsSimulated
            ? _simulated.Value
            : _clients.GetOrAdd((model.ProviderName, model.Name), static (key, state) =>
                state.Registry.ProviderClient(key.Provider, state.Model.Provider).GetChatClient(key.Model).AsIChatClient(),
                (Registry: this, Model: model));

    private OpenAIClient ProviderClient(string name, ProviderOptions provider) =>
        _providers.GetOrAdd(name, static (_, state) =>
        {
            var p = state.Provider;
            var options = new OpenAIClientOptions
            {
                Endpoint = p.Endpoint,
                RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
                NetworkTimeout = Timeout.InfiniteTimeSpan,
            };
            // First added, outermost: it reads what the policies below made of the body.
            options.AddPolicy(new ProviderEventPolicy(), PipelinePosition.PerCall);
            options.AddPolicy(new NonStreamedAnswerPolicy(), PipelinePosition.PerCall);
            options.AddPolicy(new StreamActivityPolicy(), PipelinePosition.PerCall);
            // It bounds the body before the policies above read it.
            options.AddPolicy(new BoundedBodyPolicy(state.MaxAnswerLength), PipelinePosition.PerCall);
            // Last added, innermost: the bound counts decoded bytes.
            options.AddPolicy(new ContentDecodingPolicy(), PipelinePosition.PerCall);
            // Local servers (Ollama, vLLM) take any key; the SDK insists on one.
            return new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(p.ApiKey) ? "unused" : p.ApiKey), options);
        }, (Provider: provider, MaxAnswerLength: _maxAnswerLength));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }
    }
}
