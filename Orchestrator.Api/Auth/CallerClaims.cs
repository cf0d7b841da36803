using System.Security.Claims;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Auth;

/// <summary>The claims the API key handler issues, and how endpoints read the caller from them.</summary>
internal static class CallerClaims
{
    /// <summary>The caller's tenant (absent for an admin key).</summary>
    public const string Tenant = OrchestratorTags.Tenant;

    /// <summary>The role of an admin key.</summary>
    public const string AdminRole = "admin";

    /// <summary>The tenant the caller acts for, or null for an admin key.</summary>
    public static string? TenantOf(this ClaimsPrincipal user) => user.FindFirst(Tenant)?.Value;

    /// <summary>Whether the caller presented an admin key.</summary>
    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(AdminRole);
}
