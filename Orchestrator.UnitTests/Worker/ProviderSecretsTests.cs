using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

public sealed class ProviderSecretsTests
{
    [Fact]
    public void Redact_EmptyAndShortKeys_NeverReplaced()
    {
        // A local server's placeholder key is no secret: replacing "EMPTY" everywhere would garble messages.
        ProviderSecrets.Add([null, "", "   ", "EMPTY", "ollama"]);

        Assert.Equal("EMPTY body from ollama", ProviderSecrets.Redact("EMPTY body from ollama"));
    }

    [Fact]
    public void Redact_KeyThatContainsAnotherKey_ReplacedWhole()
    {
        ProviderSecrets.Add(["sk-unit-NESTED-01234", "sk-unit-NESTED-01234-longer"]);

        Assert.Equal("got [redacted] and [redacted]", ProviderSecrets.Redact("got sk-unit-NESTED-01234-longer and sk-unit-NESTED-01234"));
    }

    [Fact]
    public void Redact_BearerCredentialQuoted_ValueReplaced()
    {
        Assert.Equal("""{"authorization":"Bearer [redacted]"}""", ProviderSecrets.Redact("""{"authorization":"Bearer abc.def-ghi"}"""));
    }
}
