using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Web;

/// <summary>The jobs page's settings (section <c>Web</c>).</summary>
public sealed class WebOptions
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
}
