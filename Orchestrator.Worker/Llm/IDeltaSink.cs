namespace Orchestrator.Worker.Llm;

/// <summary>Takes the text a provider streams during a call, in order, as it arrives.</summary>
public interface IDeltaSink
{
    /// <summary>Called for each streamed piece of text; must not block.</summary>
    void Append(string text);
}
