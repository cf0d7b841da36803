using System.ComponentModel;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Names, at start, each configuration key under a section the service reads that is no setting of
/// it but nearly spells one: <c>Worker__Concurency=4</c> was ignored without a word, and the worker
/// ran at its default concurrency. A warning with the setting it likely meant, not a stop.
/// </summary>
/// <remarks>
/// Only near misses: a section can be shared with a service that reads more of it (the API's
/// <c>Tenants:{t}:ApiKeys</c> beside the worker's <c>Tenants:{t}:MaxConcurrency</c>, the AppHost's
/// <c>Redis:MaxMemory</c> beside the API's <c>Redis:WaitReplicas</c>), and one configuration often
/// serves them all: every key foreign to a service would be a false alarm. The binder's own
/// <c>BinderOptions.ErrorOnUnknownConfiguration</c> throws on all of them, per options type. The
/// edit distance is written here: a few lines, and no library in the framework offers one.
/// </remarks>
public static partial class MisspelledSettings
{
    /// <summary>Declares that this service reads <paramref name="section"/> as <paramref name="type"/> (one of several types is fine).</summary>
    public static IServiceCollection AddKnownSettings(this IServiceCollection services, string section, Type type) =>
        services.AddSingleton(new KnownSettings(section, type));

    /// <summary>Logs a warning for each of <see cref="FindMisspelledSettings"/>.</summary>
    public static void WarnOfMisspelledSettings(this IHost host)
    {
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MisspelledSettings).FullName!);
        IReadOnlyList<(string Key, string Meant)> misspelled;
        try
        {
            misspelled = host.Services.FindMisspelledSettings();
        }
        catch (Exception e) when (e is AmbiguousMatchException or NotSupportedException or InvalidOperationException)
        {
            // A hint, never a reason not to start: an options type reflection cannot read is left unchecked.
            LogNotChecked(logger, e.Message);
            return;
        }

        foreach (var (key, meant) in misspelled)
        {
            LogMisspelled(logger, key, meant);
        }
    }

    /// <summary>
    /// The keys under a declared section that none of its types reads and that nearly spell a setting
    /// one of them does, each with that setting's key.
    /// </summary>
    public static IReadOnlyList<(string Key, string Meant)> FindMisspelledSettings(this IServiceProvider services)
    {
        if (services.GetService<IConfiguration>() is not { } configuration)
        {
            return [];
        }

        return [.. services.GetServices<KnownSettings>().GroupBy(static k => k.Section, StringComparer.OrdinalIgnoreCase)
            .SelectMany(section => Misspelled(configuration.GetSection(section.Key), [.. section.Select(static k => k.Type).Distinct()]))];
    }

    /// <summary>
    /// The keys under <paramref name="section"/> that none of <paramref name="types"/> reads, each with
    /// the key of the setting it nearly spells; keys far from every setting are not returned.
    /// </summary>
    private static IEnumerable<(string Key, string Meant)> Misspelled(IConfigurationSection section, IReadOnlyList<Type> types)
    {
        if (types.Any(IsValue))
        {
            yield break;
        }

        foreach (var child in section.GetChildren())
        {
            var childTypes = types.Select(t => MemberType(t, child.Key)).OfType<Type>().Distinct().ToList();
            if (childTypes.Count == 0)
            {
                var meant = types.SelectMany(Members).Distinct(StringComparer.Ordinal)
                    .Select(name => (Name: name, Distance: Distance(child.Key.ToUpperInvariant(), name.ToUpperInvariant())))
                    .Where(m => m.Distance <= (m.Name.Length < 6 ? 1 : 2))
                    .OrderBy(static m => m.Distance).ThenBy(static m => m.Name, StringComparer.Ordinal)
                    .Select(static m => m.Name).FirstOrDefault();
                if (meant is not null)
                {
                    yield return (child.Path, ConfigurationPath.Combine(section.Path, meant));
                }

                continue;
            }

            foreach (var misspelled in Misspelled(child, childTypes))
            {
                yield return misspelled;
            }
        }
    }

    /// <summary>Edits (insert, delete, replace, swap two neighbours) from <paramref name="a"/> to <paramref name="b"/>.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>What the binder binds <paramref name="key"/> of <paramref name="type"/> to: an entry's type for a map or a list, a property's for an object; null when nothing.</summary>
    private static Type? MemberType(Type type, string key)
    {
        if (ElementType(type) is { } element)
        {
            return element;
        }

        return type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)?.PropertyType;
    }

    private static IEnumerable<string> Members(Type type) => ElementType(type) is null
        ? type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(static p => p.Name)
        : [];

    /// <summary>The value type of a dictionary, or the element type of an array or a list; null for anything else.</summary>
    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        var generic = type.IsInterface && type.IsGenericType ? [type] : type.GetInterfaces().Where(static i => i.IsGenericType);
        var dictionary = generic.FirstOrDefault(static i => i.GetGenericTypeDefinition() == typeof(IDictionary<,>) || i.GetGenericTypeDefinition() == typeof(IReadOnlyDictionary<,>));
        if (dictionary is not null)
        {
            return dictionary.GetGenericArguments()[1];
        }

        return type == typeof(string) ? null : generic.FirstOrDefault(static i => i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    /// <summary>A type the binder reads from one value (a number, a time, a URI): any key below it is not its.</summary>
    private static bool IsValue(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying.IsPrimitive || underlying.IsEnum || underlying == typeof(string) || underlying == typeof(decimal)
            || TypeDescriptor.GetConverter(underlying).CanConvertFrom(typeof(string));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Configuration key {Key} is not a setting, and is ignored: did you mean {Meant}?")]
    private static partial void LogMisspelled(ILogger logger, string key, string meant);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Configuration keys were not checked for misspellings: {Reason}")]
    private static partial void LogNotChecked(ILogger logger, string reason);
}

/// <summary>A section this service reads, and as what (<see cref="MisspelledSettings.AddKnownSettings"/>).</summary>
internal sealed record KnownSettings(string Section, Type Type);
