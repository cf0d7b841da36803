using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Jobs;

namespace Orchestrator.Api.Auth;

/// <summary>
/// <c>Api:ReadsPerSecondPerTenant</c>: ASP.NET Core's rate limiter with a token bucket per tenant, in
/// this process, over the reads of the endpoints that take a key; past it, 429 <c>quota-exceeded</c>.
/// </summary>
internal static class TenantReadLimits
{
    /// <summary>
    /// Registers the limiter (Program.cs puts it in the pipeline only when <c>Api:ReadsPerSecondPerTenant</c>
    /// is set; unset, it would limit nothing).
    /// </summary>
    public static IServiceCollection AddTenantReadLimits(this IServiceCollection services)
    {
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<ApiOptions>>((limiter, api) =>
        {
            if (api.Value.ReadsPerSecondPerTenant is not { } perSecond)
            {
                return;
            }

            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                IsTenantRead(context, out var tenant)
                    ? RateLimitPartition.GetTokenBucketLimiter(tenant, _ => Bucket(perSecond))
                    : RateLimitPartition.GetNoLimiter(string.Empty));
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (rejected, _) => new ValueTask(Refusal(rejected, perSecond).ExecuteAsync(rejected.HttpContext));
        });
        return services;
    }

    /// <summary>
    /// A token bucket of one second's reads, refilled in tenths of a second (at least one token a
    /// step), so a tenant at its rate is served evenly, not in one burst a second.
    /// </summary>
    internal static TokenBucketRateLimiterOptions Bucket(int perSecond)
    {
        var perStep = Math.Max(1, perSecond / 10);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = perSecond,
            TokensPerPeriod = perStep,
            ReplenishmentPeriod = TimeSpan.FromSeconds(perStep / (double)perSecond),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

    /// <summary>A tenant key's <c>GET</c> or <c>HEAD</c> of an endpoint that takes a key (not /health, /alive, the OpenAPI document).</summary>
    private static bool IsTenantRead(HttpContext context, out string tenant)
    {
        tenant = context.User.TenantOf() ?? string.Empty;
        return tenant.Length > 0
            && (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
            && context.GetEndpoint()?.Metadata.GetMetadata<IAuthorizeData>() is not null
            && context.GetEndpoint()?.Metadata.GetMetadata<IAllowAnonymous>() is null;
    }

    private static IResult Refusal(OnRejectedContext rejected, int perSecond)
    {
        var seconds = SubmitProblems.WholeSeconds(
            rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1));
        return SubmitProblems.TenantQuotaExceeded(rejected.HttpContext,
            $"Tenant '{rejected.HttpContext.User.TenantOf()}' may read {perSecond:N0} times per second on this API process (Api:ReadsPerSecondPerTenant). " +
            $"Retry after {seconds} s.",
            nameof(ApiOptions.ReadsPerSecondPerTenant), perSecond, seconds);
    }
}
