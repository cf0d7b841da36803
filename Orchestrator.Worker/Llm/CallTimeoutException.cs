namespace Orchestrator.Worker.Llm;

/// <summary>
/// The LLM call was cancelled by its attempt's timeout (<c>Retry:AttemptTimeout</c>), not by its
/// job (canceled, the worker shutting down, the lease lost): a hung provider. The deployment's
/// circuit counts it as a failure. A cancellation still, so that the pipeline's timeout strategy
/// reports it as the attempt's timeout (<c>TimeoutRejectedException</c>, type <c>timeout</c>).
/// </summary>
public sealed class CallTimeoutException(OperationCanceledException inner, CancellationToken token)
    : OperationCanceledException("The LLM call exceeded Retry:AttemptTimeout.", inner, token);
