using System.Collections;

namespace Orchestrator.ServiceDefaults;

/// <summary>
/// The log scope that carries <c>orchestrator.tenant</c>: one name-value pair, which the OpenTelemetry
/// exporter and the JSON console read as an attribute, and which reads <c>orchestrator.tenant:acme</c>
/// as text (an array of pairs printed as its type name in a console's scopes).
/// </summary>
public sealed class TenantScope(string tenant) : IReadOnlyList<KeyValuePair<string, object?>>
{
    public KeyValuePair<string, object?> this[int index] =>
        index == 0 ? new(OrchestratorTags.Tenant, tenant) : throw new ArgumentOutOfRangeException(nameof(index));

    public int Count => 1;

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        yield return this[0];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"{OrchestratorTags.Tenant}:{tenant}";
}
