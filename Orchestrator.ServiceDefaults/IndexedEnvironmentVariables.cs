using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The environment variables as configuration, with each section's children looked up in an index
/// instead of a scan of every variable. The framework's provider answers <c>GetChildren</c> of any
/// section by scanning all its keys (dotnet/runtime#65885), and the binder and the start-up checks ask
/// it once or more per tenant: with N tenants' <c>Tenants__{t}__…</c> variables the start was O(N²)
/// (~13 s of CPU at 3,000 tenants).
/// </summary>
public static class IndexedEnvironmentVariables
{
    /// <summary>Replaces each environment-variables source of <paramref name="builder"/> with an indexed one (same prefix, same keys).</summary>
    public static void UseIndexedEnvironmentVariables(this IConfigurationBuilder builder)
    {
        for (var i = 0; i < builder.Sources.Count; i++)
        {
            if (builder.Sources[i] is EnvironmentVariablesConfigurationSource source)
            {
                builder.Sources[i] = new Source(source.Prefix);
            }
        }
    }

    private sealed class Source(string? prefix) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new Provider(prefix);
    }

    private sealed class Provider(string? prefix) : EnvironmentVariablesConfigurationProvider(prefix)
    {
        private static readonly List<string> None = [];

        // Parent path → the child segment of each key below it, one per key, as the base returns them; the root's under null.
        private volatile Index? _index;

        private sealed record Index(List<string> Root, Dictionary<string, List<string>> Children);

        public override void Load()
        {
            base.Load();
            _index = null;
        }

        public override void Set(string key, string? value)
        {
            base.Set(key, value);
            _index = null;
        }

        public override IEnumerable<string> GetChildKeys(IEnumerable<string> earlierKeys, string? parentPath)
        {
            var index = _index ??= BuildIndex();
            var own = parentPath is null ? index.Root : index.Children.TryGetValue(parentPath, out var found) ? found : None;
            var results = new List<string>(own);
            results.AddRange(earlierKeys);
            results.Sort(ConfigurationKeyComparer.Instance);
            return results;
        }

        private Index BuildIndex()
        {
            var root = new List<string>();
            var index = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
            foreach (var key in Data.Keys)
            {
                // The root's child, then the child below each ':' (the base matches a parent p when the key starts with p + ':').
                root.Add(Segment(key, 0));
                for (var colon = key.IndexOf(':'); colon >= 0; colon = key.IndexOf(':', colon + 1))
                {
                    Add(index, key[..colon], Segment(key, colon + 1));
                }
            }

            return new Index(root, index);
        }

        private static void Add(Dictionary<string, List<string>> index, string parent, string child)
        {
            if (!index.TryGetValue(parent, out var children))
            {
                index[parent] = children = [];
            }

            children.Add(child);
        }

        private static string Segment(string key, int start)
        {
            var end = key.IndexOf(':', start);
            return end < 0 ? key[start..] : key[start..end];
        }
    }
}
