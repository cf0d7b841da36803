using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>
/// The AppHost's own settings, checked before anything is built: one line per bad one on standard
/// error and exit code 1, as the services do. Read where they are used, they ended the AppHost as
/// unhandled exceptions (exit code 134 and ~20 lines of the binder's inner exceptions for
/// <c>--Worker:Replicas=abc</c> or <c>--Api:Port=99999</c>; an outside audit).
/// </summary>
internal static class AppHostSettings
{
    private static readonly string[] Modes = ["auto", "container", "local", "cluster", "connection-string"];

    /// <summary>Writes a line for each bad AppHost setting; false when there was one.</summary>
    public static bool AreValid(IConfiguration configuration)
    {
        List<string?> problems =
        [
            Whole(configuration, "Api:Port", 0, 65_535),
            Whole(configuration, "Web:Port", 0, 65_535),
            Whole(configuration, "Api:Replicas", 1, 100),
            Whole(configuration, "Worker:Replicas", 1, 100),
            // A cluster's six nodes take Redis:Port to Redis:Port + 5.
            Whole(configuration, "Redis:Port", 1, 65_530),
            Whole(configuration, "Jobs:Partitions", 1, 1024),
            Duration(configuration, "Redis:NodeTimeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            configuration["Redis:Mode"] is { Length: > 0 } mode && !Modes.Contains(mode, StringComparer.OrdinalIgnoreCase)
                ? $"Redis:Mode '{mode}' is not known; use {string.Join(", ", Modes)}."
                : null,
            MaxMemory(configuration["Redis:MaxMemory"]),
            // Without it the AppHost waited for a Redis it would never be given, silently (an outside audit: 90 s).
            string.Equals(configuration["Redis:Mode"], "connection-string", StringComparison.OrdinalIgnoreCase)
                && string.IsNullOrWhiteSpace(configuration.GetConnectionString("redis"))
                ? "Redis:Mode 'connection-string' needs ConnectionStrings:redis (e.g. ConnectionStrings__redis=host:6379)."
                : null,
        ];
        foreach (var problem in problems.OfType<string>())
        {
            Console.Error.WriteLine(problem);
        }

        return problems.All(static p => p is null);
    }

    private static string? Whole(IConfiguration configuration, string key, int min, int max) =>
        configuration[key] is not { } value
        || (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max)
            ? null
            : $"{key}: '{value}' is not a whole number from {min} to {max}.";

    private static string? Duration(IConfiguration configuration, string key, TimeSpan min, TimeSpan max) =>
        configuration[key] is not { } value
        || (TimeSpan.TryParse(value, CultureInfo.InvariantCulture, out var duration) && duration >= min && duration <= max)
            ? null
            : $"{key}: '{value}' is not a duration (hh:mm:ss[.fff]) from {min} to {max}.";

    private static string? MaxMemory(string? configured)
    {
        try
        {
            RedisServerArgs.MaxMemory(configured);
            return null;
        }
        catch (DistributedApplicationException e)
        {
            return e.Message;
        }
    }
}
