using System.Reflection;

namespace Orchestrator.Chaos;

/// <summary>
/// Where the API and worker assemblies were built: the paths the build baked into this assembly
/// (see the csproj), overridable with ORCHESTRATOR_API_DLL / ORCHESTRATOR_WORKER_DLL.
/// </summary>
internal static class ServiceAssemblies
{
    public static string Api => Resolve("Orchestrator.Api.Assembly", "ORCHESTRATOR_API_DLL");

    public static string Worker => Resolve("Orchestrator.Worker.Assembly", "ORCHESTRATOR_WORKER_DLL");

    private static string Resolve(string metadataKey, string environmentVariable)
    {
        var path = Environment.GetEnvironmentVariable(environmentVariable);
        if (string.IsNullOrEmpty(path))
        {
            path = typeof(ServiceAssemblies).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == metadataKey)?.Value;
        }

        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            throw new FileNotFoundException(
                $"The built service assembly '{path}' ({metadataKey}) is missing. Build the solution in the same configuration, " +
                $"or set {environmentVariable}.", path);
        }

        return path;
    }
}
