using Orchestrator.Jobs;
using Orchestrator.Worker.Telemetry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Charges each answered LLM call's tokens to its tenant's <c>Tenants:{t}:TokensPerMinute</c>
/// (<c>tenant-tokens.lua</c>), which <c>dispatch.lua</c> reads to hold the tenant's next jobs back.
/// A charge that cannot be written (Redis unavailable) is dropped: the limit is looser for that call,
/// and the job's outcome, already recorded, is never held up by it.
/// </summary>
internal sealed class TenantTokens(JobStore store, TenantPermits tenants, ILogger<TenantTokens> logger)
{
    public async Task ChargeAsync(string tenant, long tokens)
    {
        if (tokens <= 0 || tenants.TokensPerMinute(tenant) is not { } tokensPerMinute)
        {
            return;
        }

        try
        {
            await store.ChargeTenantTokensAsync(tenant, tokens, tokensPerMinute).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            WorkerLog.RedisUnavailable(logger, "tenant tokens", TimeSpan.Zero, e);
        }
    }
}
