using System.Globalization;
using System.Reflection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using StackExchange.Redis;

namespace Orchestrator.Worker.Llm.FlowControl;

/// <summary>Why a call may not go out yet.</summary>
public enum FlowWait
{
    /// <summary>Nothing: the call is reserved.</summary>
    None,

    /// <summary>The deployment is cooling down after a 429.</summary>
    Cooldown,

    /// <summary>Its requests or tokens per minute are used up for now.</summary>
    Capacity,

    /// <summary>All of its concurrency permits are taken.</summary>
    Concurrency,
}

/// <summary>A reservation made before a call: what to settle after it.</summary>
/// <param name="PermitId">The concurrency permit taken, or null when the deployment has no bound.</param>
/// <param name="TokensCharged">Whether the estimate was taken from a tokens-per-minute limit (none configured or learned: not).</param>
public sealed record FlowReservation(string Provider, ProviderOptions Options, long EstimatedTokens, string? PermitId, bool TokensCharged = true)
{
    /// <summary>Whether <see cref="DeploymentFlowControl.SettleAsync"/> has anything to give back: tokens or a permit.</summary>
    public bool NeedsSettling => TokensCharged || PermitId is not null;

    /// <summary>Identifies the settlement, so that one sent again applies once.</summary>
    public string Id { get; } = PermitId ?? Guid.NewGuid().ToString("N");
}

/// <summary>
/// Flow control shared by every worker of the fleet, per deployment (provider), kept in Redis and
/// changed only by the scripts in this folder, on Redis's clock: a cooldown learnt from 429s, the
/// requests and tokens per minute (GCRA), and a concurrency semaphore whose permits are leased.
/// Keys and scripts: docs/design/job-store.md "Flow control".
/// </summary>
public sealed class DeploymentFlowControl(IConnectionMultiplexer redis, RedisKeys keys)
{
    private static readonly RedisScript Reserve = Load("reserve");
    private static readonly RedisScript Settle = Load("settle");
    private static readonly RedisScript Cooldown = Load("cooldown");
    private static readonly RedisScript RenewPermit = Load("renew-permit");
    private static readonly RedisScript CooldownLeft = Load("cooldown-left");

    /// <summary>
    /// How far ahead of the steady rate the fleet may go, as time at the limit's rate. Kept below a
    /// provider's own burst allowance so that pacing, not 429s, shapes the flow.
    /// </summary>
    public static readonly TimeSpan Burst = TimeSpan.FromSeconds(2);

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Reserves one request and <paramref name="estimatedTokens"/> tokens, and a permit; or says how long to wait.</summary>
    public async Task<(FlowWait Wait, TimeSpan Delay, FlowReservation? Reservation)> ReserveAsync(
        string provider, ProviderOptions options, long estimatedTokens, TimeSpan permitLease)
    {
        var permitId = options.MaxConcurrency is null ? null : Guid.NewGuid().ToString("N");
        var reply = (RedisResult[])(await Reserve.EvaluateAsync(Db,
            [Key(provider, "cooldown"), Key(provider, "rpm"), Key(provider, "tpm"), Key(provider, "permits"), Key(provider, "learned")],
            [
                options.RequestsPerMinute ?? 0,
                options.TokensPerMinute ?? 0,
                estimatedTokens,
                (long)Burst.TotalMilliseconds,
                options.MaxConcurrency ?? 0,
                permitId ?? "",
                (long)permitLease.TotalMilliseconds,
            ]).ConfigureAwait(false))!;
        var code = (int)reply[0];
        var delay = TimeSpan.FromMilliseconds((long)reply[1]);
        return code == 0
            ? (FlowWait.None, TimeSpan.Zero, new FlowReservation(provider, options, estimatedTokens, permitId, TokensCharged: (long)reply[1] == 1))
            : ((FlowWait)code, delay, null);
    }

    /// <summary>
    /// How long a settlement is remembered (<c>settle.lua</c>'s marker): longer than the redis
    /// pipeline keeps re-sending a call in any but a long outage, after which the permit has lapsed anyway.
    /// </summary>
    public static readonly TimeSpan SettlementMemory = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Corrects the tokens limit by the real usage and gives the permit back. Safe to send again:
    /// true when this call settled, false when an earlier send of it had. A reservation that took
    /// no tokens and no permit (a deployment without limits) has nothing to settle: no call.
    /// </summary>
    public async Task<bool> SettleAsync(FlowReservation reservation, long actualTokens) =>
        !reservation.NeedsSettling
        || (int)await Settle.EvaluateAsync(Db,
            [Key(reservation.Provider, "tpm"), Key(reservation.Provider, "permits"), Key(reservation.Provider, "learned"),
                Key(reservation.Provider, "settled:" + reservation.Id)],
            [reservation.Options.TokensPerMinute ?? 0, actualTokens - reservation.EstimatedTokens, reservation.PermitId ?? "",
                (long)SettlementMemory.TotalMilliseconds]).ConfigureAwait(false) == 1;

    /// <summary>
    /// After a 429: extends the deployment's cooldown to at least <paramref name="wait"/> from now,
    /// fleet-wide; remembers the limits the provider announced where none are configured; and
    /// starts the limits full at the cooldown's end, so calls resume at the limit's pace, not in a burst.
    /// </summary>
    public Task ExtendCooldownAsync(string provider, ProviderOptions options, TimeSpan wait, AnnouncedLimits? announced) =>
        Cooldown.EvaluateAsync(Db,
            [Key(provider, "cooldown"), Key(provider, "learned"), Key(provider, "rpm"), Key(provider, "tpm")],
            [
                (long)Math.Ceiling(wait.TotalMilliseconds),
                options.RequestsPerMinute ?? 0,
                options.TokensPerMinute ?? 0,
                announced?.RequestsPerMinute ?? 0,
                announced?.TokensPerMinute ?? 0,
                (long)Burst.TotalMilliseconds,
            ]);

    /// <summary>
    /// How old an answer of Redis may be when a call goes out on it. A 429 written by another worker
    /// after <c>reserve.lua</c> looked is unseen by this call; when the answer took longer than this
    /// to reach the worker (a slow Redis, or a machine so busy that the continuation waited for a
    /// thread), the cooldown is asked again just before the call (<see cref="CooldownLeftAsync"/>).
    /// On an idle machine an answer takes a millisecond and nothing more is asked.
    /// </summary>
    public static readonly TimeSpan FreshFor = TimeSpan.FromMilliseconds(20);

    /// <summary>How long the deployment's cooldown still runs; zero when calls may go.</summary>
    public async Task<TimeSpan> CooldownLeftAsync(string provider) =>
        TimeSpan.FromMilliseconds((long)await CooldownLeft.EvaluateAsync(Db, [Key(provider, "cooldown")]).ConfigureAwait(false));

    /// <summary>Keeps a running call's permit for another lease; false when it had lapsed.</summary>
    public async Task<bool> RenewPermitAsync(FlowReservation reservation, TimeSpan lease) =>
        reservation.PermitId is null
        || (int)await RenewPermit.EvaluateAsync(Db, [Key(reservation.Provider, "permits")],
            [reservation.PermitId, (long)lease.TotalMilliseconds]).ConfigureAwait(false) == 1;

    /// <summary>Permits held now (expired ones excluded), for tests and operators.</summary>
    public async Task<long> PermitsHeldAsync(string provider)
    {
        var time = await Db.ExecuteAsync("TIME").ConfigureAwait(false);
        var parts = (RedisResult[])time!;
        var now = (long.Parse((string)parts[0]!, CultureInfo.InvariantCulture) * 1000) + (long.Parse((string)parts[1]!, CultureInfo.InvariantCulture) / 1000);
        return await Db.SortedSetLengthAsync(Key(provider, "permits"), now, double.PositiveInfinity, Exclude.Start).ConfigureAwait(false);
    }

    /// <summary>The key of one piece of a deployment's state.</summary>
    public RedisKey Key(string provider, string part) => $"{keys.Prefix}:llm:{provider}:{part}";

    private static RedisScript Load(string name)
    {
        var resource = $"Orchestrator.Worker.Llm.FlowControl.{name}.lua";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded Lua script '{resource}' is missing.");
        using var reader = new StreamReader(stream);
        return new RedisScript(reader.ReadToEnd());
    }
}
