namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>Files of the repository the tests hold the product to (its docs and contract).</summary>
internal static class RepositoryFiles
{
    /// <summary>The repository's root: the nearest folder above the tests' binaries that holds <c>Orchestrator.sln</c>.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Orchestrator.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("The repository root (Orchestrator.sln) was not found.");
    }
}
