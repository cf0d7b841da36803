using System.Text.RegularExpressions;

namespace Orchestrator.Jobs;

/// <summary>
/// What a tenant may be called. A tenant name is part of Redis keys (<c>{orch}:idem:&lt;tenant&gt;:&lt;key&gt;</c>,
/// <c>{orch}:dead:&lt;tenant&gt;</c>), so it never contains <c>:</c> (the tenant segment ends at the
/// first colon after its prefix, whatever the rest of the key holds) nor braces (the hash tag).
/// </summary>
public static partial class TenantNames
{
    /// <summary>The tenant of anonymous requests (<c>Auth:AllowAnonymous</c>) and of jobs stored before tenants existed.</summary>
    public const string Default = "default";

    /// <summary>1 to 64 characters: lower-case ASCII letters, digits, <c>.</c>, <c>_</c> and <c>-</c>, starting with a letter or digit.</summary>
    public const string Rule = "1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit";

    /// <summary>Whether <paramref name="name"/> follows <see cref="Rule"/>.</summary>
    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    /// <summary>
    /// The start-up line for a configured tenant whose name breaks <see cref="Rule"/>. Every validator of
    /// the <c>Tenants</c> section (the API keys', the quotas') reports it in these words, so that the
    /// service prints it once (identical lines are printed once), not once per validator.
    /// </summary>
    public static string InvalidInConfiguration(string tenant) =>
        $"Tenant name '{tenant}' (section Tenants:{tenant}) is not valid: a tenant name is {Rule}.";

    /// <summary><see cref="Rule"/> as a regular expression (the OpenAPI document states it too).</summary>
    public const string PatternText = "^[a-z0-9][a-z0-9._-]{0,63}$";

    [GeneratedRegex(PatternText, RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
