using Orchestrator.Llm;

namespace Orchestrator.UnitTests.Llm;

/// <summary>
/// <see cref="LlmErrorKinds.FromHttp"/> on the errors each OpenAI-compatible server sends in its own
/// words: a prompt over the context goes to the next fallback model, out of credit is permanent.
/// </summary>
public sealed class LlmErrorKindsTests
{
    [Theory]
    // OpenAI's code; vLLM and Mistral in OpenAI's words.
    [InlineData(400, "context_length_exceeded", "invalid_request_error", "This model's maximum context length is 128000 tokens.")]
    [InlineData(400, "400", "BadRequestError", "Prompt contains 40000 tokens, too large for model with 32768 maximum context length")]
    // llama.cpp's server.
    [InlineData(400, "400", "exceed_context_size_error", "the request exceeds the available context size, try increasing it")]
    // Anthropic's and Gemini's OpenAI-compatible endpoints.
    [InlineData(400, "invalid_request_error", "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum")]
    [InlineData(400, "400", "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")]
    // OpenAI's Responses.
    [InlineData(400, null, "invalid_request_error", "Your input exceeds the context window of this model.")]
    // TGI's validation error, a 422.
    [InlineData(422, null, null, "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`")]
    public void PromptOverTheContext_InEachServersWords_IsContextLengthExceeded(int status, string? code, string? type, string message)
    {
        Assert.Equal(LlmErrorKind.ContextLengthExceeded, LlmErrorKinds.FromHttp(status, code, type, message));
    }

    [Theory]
    // Groq's "Request too large" comes as a 413, not OpenAI's 429.
    [InlineData(413, "rate_limit_exceeded", "tokens", "Request too large for model `llama-3.1-8b-instant` in organization `org_x` on tokens per minute (TPM): Limit 6000, Requested 9000", LlmErrorKind.RequestTooLarge)]
    [InlineData(429, "rate_limit_exceeded", "tokens", "Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 36282.", LlmErrorKind.RequestTooLarge)]
    // Out of credit: DeepSeek's and OpenRouter's 402s, OpenAI's insufficient_quota.
    [InlineData(402, "invalid_request_error", "unknown_error", "Insufficient Balance", LlmErrorKind.InsufficientQuota)]
    [InlineData(402, "402", null, "Insufficient credits. Add more using https://openrouter.ai/credits", LlmErrorKind.InsufficientQuota)]
    [InlineData(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota.", LlmErrorKind.InsufficientQuota)]
    // Other client errors stay what they were.
    [InlineData(400, null, "invalid_request_error", "Invalid value for 'temperature'.", LlmErrorKind.InvalidRequest)]
    [InlineData(422, null, null, "Input validation error: `temperature` must be strictly positive", LlmErrorKind.InvalidRequest)]
    [InlineData(400, null, "invalid_request_error", "max_tokens is too large: 200000. See the model's context window.", LlmErrorKind.InvalidRequest)]
    [InlineData(429, "rate_limit_exceeded", "requests", "Rate limit reached for requests.", LlmErrorKind.RateLimited)]
    public void OtherServersErrors_TheirKind(int status, string? code, string? type, string message, LlmErrorKind kind)
    {
        Assert.Equal(kind, LlmErrorKinds.FromHttp(status, code, type, message));
    }
}
