using Microsoft.AspNetCore.Authorization;

namespace Orchestrator.Api.Auth;

/// <summary>Registers API key authentication and the API's authorization policies.</summary>
internal static class AuthServiceCollectionExtensions
{
    /// <summary>The policy of endpoints that act for a tenant (submit): an admin key has none.</summary>
    public const string TenantPolicy = "tenant";

    /// <summary>
    /// Adds the <see cref="ApiKeyAuthenticationHandler"/> scheme, <see cref="AuthOptions"/> (validated
    /// at start), and a fallback policy that requires an authenticated caller, so an endpoint is
    /// closed unless it opts out with <c>AllowAnonymous()</c> (health, the OpenAPI document).
    /// </summary>
    public static IServiceCollection AddApiKeyAuthentication(this IServiceCollection services)
    {
        services.AddOptions<AuthOptions>()
            .BindConfiguration(AuthOptions.Section)
            .Configure<IConfiguration>((options, configuration) =>
                configuration.GetSection(AuthOptions.TenantsSection).Bind(options.Tenants))
            .ValidateOnStart();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddKnownSettings(AuthOptions.Section, typeof(AuthOptions))
            .AddKnownSettings(AuthOptions.TenantsSection, typeof(Dictionary<string, TenantOptions>));
        services.AddSingleton<ApiKeyRing>();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(
                ApiKeyAuthenticationHandler.SchemeName, configureOptions: null);

        // No scheme named in the policies: the API key scheme is the default one, so the policies read the
        // user the authentication middleware set; naming it made every request authenticate again
        // and copy the user into a new principal.
        var authenticated = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build();
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(authenticated)
            .SetFallbackPolicy(authenticated)
            .AddPolicy(TenantPolicy, policy => policy.Combine(authenticated).RequireClaim(CallerClaims.Tenant));
        return services;
    }
}
