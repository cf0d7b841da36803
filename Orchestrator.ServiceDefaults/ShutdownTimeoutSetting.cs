using System.Globalization;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Checks <c>shutdownTimeoutSeconds</c>, the key the .NET host reads its shutdown timeout from. The
/// host skips a value it cannot read (<c>abc</c>, <c>-5</c>) and keeps its 30 s without a word, so a
/// typo changed how long a stop may take unnoticed; here it stops the start like any bad setting.
/// </summary>
internal static class ShutdownTimeoutSetting
{
    /// <summary>The configuration key (the environment variable of the same name).</summary>
    public const string Key = "shutdownTimeoutSeconds";

    /// <summary>The longest timeout accepted: an hour. Longer holds a stop past any orchestrator's own kill timeout.</summary>
    public const int MaxSeconds = 3600;

    /// <summary>Validates <see cref="Key"/> when the host starts (<see cref="ConfigurationValidation.ConfigurationIsValid"/> reports it).</summary>
    public static IServiceCollection AddShutdownTimeoutCheck(this IServiceCollection services)
    {
        services.AddSettingCheck(Key, static value => IsValid(value) ? [] : [$"{Key} must be a whole number of seconds from 0 to {MaxSeconds}"]);
        return services;
    }

    /// <summary>Unset or empty: the host's default (30 s). Else digits only, as the host reads them.</summary>
    internal static bool IsValid(string? value) =>
        string.IsNullOrEmpty(value)
        || (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= MaxSeconds);
}
