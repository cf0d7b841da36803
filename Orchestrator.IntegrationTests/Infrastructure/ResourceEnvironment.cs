using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>What the AppHost gives a resource's process as environment, read from its application model.</summary>
internal static class ResourceEnvironment
{
    /// <summary>The environment of resource <paramref name="name"/> as its callbacks give it: values are strings or value providers (parameters).</summary>
    public static async Task<Dictionary<string, object>> OfAsync(
        IEnumerable<IResource> resources, string name, DistributedApplicationExecutionContext executionContext)
    {
        var resource = resources.OfType<IResourceWithEnvironment>().Single(r => r.Name == name);
        var context = new EnvironmentCallbackContext(executionContext, resource, cancellationToken: TestContext.Current.CancellationToken);
        foreach (var annotation in resource.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await annotation.Callback(context);
        }

        return context.EnvironmentVariables;
    }
}
