using System.ComponentModel.DataAnnotations;
using Orchestrator.Client;

namespace Orchestrator.Web;

/// <summary>The jobs page's settings (section <c>Web</c>).</summary>
public sealed class WebOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Web";

    /// <summary>
    /// The API's address. Default <c>https+http://api</c>: the AppHost's <c>api</c> resource through
    /// service discovery (https when it has an https endpoint, else http).
    /// </summary>
    [Required]
    public string ApiUrl { get; set; } = "https+http://api";

    /// <summary>
    /// The key the page calls the API with. An admin key (<c>Auth:AdminKeys</c>) shows every
    /// tenant's jobs and lets the page filter by tenant; a tenant's key shows that tenant's. None:
    /// anonymous (what the API's <c>Auth:AllowAnonymous</c> allows).
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>The Aspire dashboard's address, for links to a job's trace; none: no links.</summary>
    public Uri? DashboardUrl { get; set; }

    /// <summary>How often an open page reads the API again (live updates). Default 1 s.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Longest wait for one answer of the API before the page says it did not answer (and reads again at
    /// the next refresh). Default 10 s.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ApiTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The API's address as the client takes it: ending with '/', so paths resolve under all of it.</summary>
    public Uri ApiAddress => new(ApiUrl.TrimEnd('/') + "/");

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        // Taken at start, not at the first page: an address the client cannot call left every page blank.
        if (!Uri.TryCreate(ApiUrl, UriKind.Absolute, out var api) || !OrchestratorAddress.IsValid(api))
        {
            yield return new ValidationResult(
                $"must be an absolute http or https address (http://localhost:3000, or https+http://api with service discovery); got '{ApiUrl}'.",
                [nameof(ApiUrl)]);
        }

        if (DashboardUrl is { } dashboard && (!dashboard.IsAbsoluteUri || dashboard.Scheme is not ("http" or "https")))
        {
            yield return new ValidationResult($"must be an absolute http or https address; got '{DashboardUrl}'.", [nameof(DashboardUrl)]);
        }
    }
}
