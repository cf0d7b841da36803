namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>Where the services the tests run as processes were built (a project reference builds them).</summary>
internal static class ServiceAssembly
{
    /// <summary>
    /// <c>&lt;repo&gt;/<paramref name="project"/>/bin/&lt;Configuration&gt;/&lt;tfm&gt;/<paramref name="project"/>.dll</c>,
    /// in the configuration the tests run from (<c>&lt;repo&gt;/&lt;test project&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/</c>).
    /// </summary>
    public static string Find(string project)
    {
        var testBin = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var targetFramework = testBin.Name;
        var configuration = testBin.Parent?.Name
            ?? throw new InvalidOperationException($"Cannot tell the build configuration from {testBin.FullName}.");

        var root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Orchestrator.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new InvalidOperationException($"No Orchestrator.sln above {testBin.FullName}.");
        }

        var path = Path.Combine(root.FullName, project, "bin", configuration, targetFramework, project + ".dll");
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{path} does not exist; build {project} ({configuration}) first.");
    }
}
