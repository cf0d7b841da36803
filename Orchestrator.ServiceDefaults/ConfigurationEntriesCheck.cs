using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Checks the entries of a map or list in configuration (<c>Llm:Providers:{name}</c>,
/// <c>Tenants:{tenant}</c>, <c>Auth:AdminKeys:{i}</c>) when the host starts. The configuration binder
/// drops an entry holding a value it cannot convert, without a word: a provider whose
/// <c>RequestsPerMinute</c> read <c>abc</c> vanished (and the simulator answered its model), a
/// tenant's quotas all went with one bad number. And a list set as one value
/// (<c>Auth__AdminKeys=key</c> instead of <c>Auth__AdminKeys__0=key</c>) is ignored. Each becomes
/// one line naming the key, with the other bad settings, and exit code 1.
/// </summary>
public static class ConfigurationEntriesCheck
{
    /// <summary>
    /// Checks that each entry under <paramref name="path"/> binds to <typeparamref name="TEntry"/>
    /// and that <paramref name="path"/> is not set as a single value. A <c>*</c> segment stands for
    /// every key at that level: <c>Llm:Providers:*:Models</c> is each provider's model list.
    /// </summary>
    public static IServiceCollection AddConfigurationEntriesCheck<TEntry>(this IServiceCollection services, string path)
    {
        services.AddOptions<Entries>(path).ValidateOnStart();
        services.AddSingleton<IValidateOptions<Entries>>(provider => new Validator<TEntry>(path, provider.GetRequiredService<IConfiguration>()));
        return services;
    }

    /// <summary>The sections <paramref name="path"/> names, a <c>*</c> segment expanded to every child there.</summary>
    private static IEnumerable<IConfigurationSection> Sections(IConfiguration configuration, string path)
    {
        IEnumerable<IConfigurationSection> sections = [];
        IConfiguration[] level = [configuration];
        foreach (var segment in path.Split(':'))
        {
            sections = segment == "*"
                ? level.SelectMany(c => c.GetChildren())
                : level.Select(c => c.GetSection(segment));
            level = [.. sections];
        }

        return sections;
    }

    /// <summary>Nothing is bound to it: it only names, as its options name, the path one validator checks.</summary>
    private sealed class Entries;

    private sealed class Validator<TEntry>(string path, IConfiguration configuration) : IValidateOptions<Entries>
    {
        // An entry the binder reads from one value (a key, a count), not from members.
        private static readonly bool IsValue = typeof(TEntry) == typeof(string) || typeof(TEntry).IsValueType;

        public ValidateOptionsResult Validate(string? name, Entries options)
        {
            if (name != path)
            {
                return ValidateOptionsResult.Skip;
            }

            var failures = new List<string>();
            foreach (var section in Sections(configuration, path))
            {
                // Empty is no value: JSON's {} or [] reads so, and so does a section emptied on purpose.
                if (!string.IsNullOrEmpty(section.Value))
                {
                    failures.Add($"{section.Path} is a list or a map: set its entries ({section.Path}:0, or {section.Path}:<name>:…; __ in environment variables), not one value.");
                }

                foreach (var entry in section.GetChildren())
                {
                    // An entry of members given one value binds to nothing, and the binder says nothing of it.
                    if (!IsValue && !string.IsNullOrEmpty(entry.Value))
                    {
                        failures.Add($"{entry.Path} is a map: set its members ({entry.Path}:<member>; __ in environment variables), not one value.");
                        continue;
                    }

                    try
                    {
                        entry.Get<TEntry>();
                    }
                    catch (InvalidOperationException e)
                    {
                        // The binder's own words name the key and the value: "Failed to convert configuration value 'abc' at 'Tenants:acme:MaxQueuedJobs' …".
                        failures.Add(e.Message);
                    }
                }
            }

            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
