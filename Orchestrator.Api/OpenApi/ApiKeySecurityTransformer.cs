using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Orchestrator.Api.Auth;

namespace Orchestrator.Api.OpenApi;

/// <summary>
/// Declares how to authenticate in <c>/openapi/v1.json</c>: the API key as a bearer token or in
/// <c>x-api-key</c>, either one (two alternative requirements). Every operation the document lists
/// needs a key (the fallback policy); the open endpoints (health, this document) are not in it.
/// </summary>
internal sealed class ApiKeySecurityTransformer : IOpenApiDocumentTransformer
{
    public const string BearerScheme = "bearer";
    public const string HeaderScheme = "apiKey";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key of a tenant (Tenants:{tenant}:ApiKeys) or an admin (Auth:AdminKeys): 'Authorization: Bearer <key>'.",
        };
        document.Components.SecuritySchemes[HeaderScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeyHeaders.ApiKey,
            Description = $"The same API key in '{ApiKeyHeaders.ApiKey}'.",
        };

        document.Security ??= [];
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] });
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(HeaderScheme, document)] = [] });
        return Task.CompletedTask;
    }
}
