using System.Diagnostics;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Auth;

/// <summary>
/// Authenticates a request by its API key (<see cref="ApiKeyHeaders"/>) and answers a missing or
/// wrong key with a 401 problem carrying <c>WWW-Authenticate: Bearer</c>. The key itself is never
/// logged nor echoed: failure messages describe the headers, not their values.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRing keys,
    IOptions<AuthOptions> authOptions,
    IProblemDetailsService problemDetails)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    private const string WrongKey = "The API key is not valid.";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var (key, error) = ApiKeyHeaders.Read(Request.Headers);
        if (error is not null)
        {
            return Task.FromResult(AuthenticateResult.Fail(error));
        }

        if (key is null)
        {
            return Task.FromResult(authOptions.Value.AllowAnonymous
                ? Success(new ApiKeyOwner(TenantNames.Default))
                : AuthenticateResult.NoResult());
        }

        return Task.FromResult(keys.Find(key) is { } owner ? Success(owner) : AuthenticateResult.Fail(WrongKey));
    }

    private AuthenticateResult Success(ApiKeyOwner owner)
    {
        var claims = owner.IsAdmin
            ? new Claim(ClaimTypes.Role, CallerClaims.AdminRole)
            : new Claim(CallerClaims.Tenant, owner.Tenant!);
        var identity = new ClaimsIdentity([claims], SchemeName);
        if (owner.Tenant is { } tenant)
        {
            // The request span carries the tenant, whatever endpoint runs.
            Activity.Current?.SetTag(OrchestratorTags.Tenant, tenant);
        }

        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        // The bare challenge for a missing key and a wrong one alike, as the contract names it (RFC 6750 §3
        // makes the error attribute optional); the problem's title says which.
        Response.Headers.WWWAuthenticate = ApiKeyHeaders.BearerScheme;
        await problemDetails.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = result.Failure is null ? "API key required" : "API key not accepted",
                Detail = result.Failure?.Message
                    ?? $"Send an API key: 'Authorization: {ApiKeyHeaders.BearerScheme} <key>' or '{ApiKeyHeaders.ApiKey}: <key>'.",
            },
        });
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return problemDetails.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status403Forbidden,
                Title = "Not allowed with this key",
                Detail = Context.User.IsAdmin()
                    ? "An admin key reads every tenant's jobs but submits none: a job belongs to a tenant; use that tenant's key."
                    : "This key may not do this.",
            },
        }).AsTask();
    }
}
