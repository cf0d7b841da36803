namespace Orchestrator.Worker.Llm;

/// <summary>The provider failed in a way that may pass if tried again (overload, rate limit, network).</summary>
public sealed class TransientLlmException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The provider rejected the request; trying again cannot help (invalid request, content policy).</summary>
public sealed class PermanentLlmException(string message, Exception? inner = null) : Exception(message, inner);
