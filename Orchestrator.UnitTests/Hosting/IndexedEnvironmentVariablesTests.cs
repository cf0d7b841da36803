using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace Orchestrator.UnitTests.Hosting;

/// <summary>
/// The indexed environment variables answer every section's children as the framework's provider
/// does (same paths, same order, same values), without scanning every variable per section.
/// </summary>
public sealed class IndexedEnvironmentVariablesTests
{
    [Fact]
    public void EverySection_TheSameChildrenAndValues_AsTheFrameworksProvider()
    {
        var prefix = $"ORCH_INDEX_TEST_{Guid.NewGuid():N}_";
        string[] names =
        [
            "Tenants__acme__ApiKeys__0", "Tenants__acme__ApiKeys__1", "Tenants__acme__Weight",
            "TENANTS__Globex__ApiKeys__0", "tenants__acme__MaxConcurrency", "Tenants__a__b__c__d",
            "Tenants__acme-2__ApiKeys__10", "Tenants__acme-2__ApiKeys__9", "Api__MaxQueuedJobs", "Solo",
            "Llm__Providers__openai__Models__0__Name", "Llm__Providers__openai__Models__1__Name",
        ];
        try
        {
            foreach (var (name, i) in names.Select((n, i) => (n, i)))
            {
                Environment.SetEnvironmentVariable(prefix + name, $"value {i}");
            }

            var framework = new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();
            var indexedBuilder = new ConfigurationBuilder().AddEnvironmentVariables(prefix);
            indexedBuilder.UseIndexedEnvironmentVariables();
            var indexed = indexedBuilder.Build();

            Assert.Equal(Tree(framework), Tree(indexed));
            Assert.Equal("value 1", indexed["Tenants:acme:ApiKeys:1"]);
            Assert.Equal(["a", "acme", "acme-2", "Globex"], indexed.GetSection("Tenants").GetChildren().Select(c => c.Key));
        }
        finally
        {
            foreach (var name in names)
            {
                Environment.SetEnvironmentVariable(prefix + name, null);
            }
        }
    }

    /// <summary>Every section's path and value, depth first, in the order the configuration gives its children.</summary>
    private static List<(string Path, string? Value)> Tree(IConfiguration configuration)
    {
        var sections = new List<(string, string?)>();
        void Walk(IEnumerable<IConfigurationSection> children)
        {
            foreach (var child in children)
            {
                sections.Add((child.Path, child.Value));
                Walk(child.GetChildren());
            }
        }

        Walk(configuration.GetChildren());
        return sections;
    }
}
