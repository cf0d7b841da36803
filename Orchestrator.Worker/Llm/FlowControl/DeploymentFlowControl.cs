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

    /// <summary>Its requests limit is used up for now, and the call's slot is booked: it goes after the wait with its booking.</summary>
    Booked,
}

/// <summary>What a call asks of its deployment's flow control before it goes out.</summary>
/// <param name="Booking">A booking an earlier reservation of this call answered (<see cref="ReserveAnswer.Booking"/>), or null.</param>
/// <param name="BookAhead">A wait for the requests limit up to this long is booked (<see cref="FlowWait.Booked"/>); zero: never.</param>
public sealed record ReserveRequest(
    string Provider, ProviderOptions Options, long EstimatedTokens, TimeSpan PermitLease, string? Booking = null, TimeSpan BookAhead = default);

/// <summary>What <c>reserve.lua</c> answered for one call.</summary>
/// <param name="Booking">The call's booking, to present after <see cref="Delay"/> (booked, or one presented early or held by the permits).</param>
public sealed record ReserveAnswer(FlowWait Wait, TimeSpan Delay, FlowReservation? Reservation, string? Booking = null);

/// <summary>A reservation made before a call: what to settle after it.</summary>
/// <param name="PermitId">The concurrency permit taken, or null when the deployment has no bound.</param>
/// <param name="TokensCharged">Whether the estimate was taken from a tokens-per-minute limit (none configured or learned: not).</param>
/// <param name="RequestsPaced">Whether the call was taken from a requests-per-minute limit (configured or learned).</param>
public sealed record FlowReservation(string Provider, ProviderOptions Options, long EstimatedTokens, string? PermitId, bool TokensCharged = true, bool RequestsPaced = false)
{
    private string? _id;

    /// <summary>Whether <see cref="DeploymentFlowControl.SettleAsync"/> has anything to give back: tokens or a permit.</summary>
    public bool NeedsSettling => TokensCharged || PermitId is not null;

    /// <summary>Whether no limit, learned or configured, applied: the deployment was clear (<see cref="ClearReadings"/>).</summary>
    public bool Unconstrained => !TokensCharged && !RequestsPaced && PermitId is null;

    /// <summary>Identifies the settlement, so that one sent again applies once (made when first asked: most reservations are never settled).</summary>
    public string Id => _id ??= PermitId ?? Guid.NewGuid().ToString("N");
}

/// <summary>What <see cref="DeploymentFlowControl.ReadAsync"/> found.</summary>
public enum DeploymentReading
{
    /// <summary>No cooldown and no learnt limit: calls may go without a reservation.</summary>
    Clear,

    /// <summary>A 429's cooldown runs.</summary>
    CoolingDown,

    /// <summary>Limits learnt from 429s apply: each call reserves.</summary>
    LimitsLearned,
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
    public async Task<ReserveAnswer> ReserveAsync(
        string provider, ProviderOptions options, long estimatedTokens, TimeSpan permitLease, string? booking = null, TimeSpan bookAhead = default) =>
        (await ReserveManyAsync([new ReserveRequest(provider, options, estimatedTokens, permitLease, booking, bookAhead)]).ConfigureAwait(false))[0];

    /// <summary>
    /// <see cref="ReserveAsync"/> for many calls in one <c>reserve.lua</c> call: each reserved (or
    /// refused) as if alone, in order. The keys of every deployment share one hash slot.
    /// </summary>
    public async Task<IReadOnlyList<ReserveAnswer>> ReserveManyAsync(IReadOnlyList<ReserveRequest> requests)
    {
        var keys = new RedisKey[requests.Count * 5];
        var values = new RedisValue[requests.Count * 9];
        var permitIds = new string?[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var (provider, options, estimatedTokens, permitLease, booking, bookAhead) = requests[i];
            permitIds[i] = options.MaxConcurrency is null ? null : Guid.NewGuid().ToString("N");
            keys[(i * 5) + 0] = Key(provider, "cooldown");
            keys[(i * 5) + 1] = Key(provider, "rpm");
            keys[(i * 5) + 2] = Key(provider, "tpm");
            keys[(i * 5) + 3] = Key(provider, "permits");
            keys[(i * 5) + 4] = Key(provider, "learned");
            values[(i * 9) + 0] = options.RequestsPerMinute ?? 0;
            values[(i * 9) + 1] = options.TokensPerMinute ?? 0;
            values[(i * 9) + 2] = estimatedTokens;
            values[(i * 9) + 3] = (long)Burst.TotalMilliseconds;
            values[(i * 9) + 4] = options.MaxConcurrency ?? 0;
            values[(i * 9) + 5] = permitIds[i] ?? "";
            values[(i * 9) + 6] = (long)permitLease.TotalMilliseconds;
            values[(i * 9) + 7] = booking ?? "";
            values[(i * 9) + 8] = (long)bookAhead.TotalMilliseconds;
        }

        var reply = (RedisResult[])(await Reserve.EvaluateAsync(Db, keys, values).ConfigureAwait(false))!;
        var results = new ReserveAnswer[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            var (code, value, booking) = ((int)reply[3 * i], (long)reply[(3 * i) + 1], (string?)reply[(3 * i) + 2]);
            var request = requests[i];
            results[i] = code == 0
                ? new ReserveAnswer(FlowWait.None, TimeSpan.Zero, new FlowReservation(request.Provider, request.Options, request.EstimatedTokens, permitIds[i],
                    TokensCharged: (value & 1) == 1, RequestsPaced: (value & 2) == 2))
                : new ReserveAnswer((FlowWait)code, TimeSpan.FromMilliseconds(value), null, string.IsNullOrEmpty(booking) ? null : booking);
        }

        return results;
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
    /// <param name="unannounced">The 429 announced no wait: the first of a round waits twice the last such wait, up to 32 s (<c>cooldown.lua</c>).</param>
    /// <returns>How long the cooldown in force runs from now.</returns>
    public async Task<TimeSpan> ExtendCooldownAsync(string provider, ProviderOptions options, TimeSpan wait, AnnouncedLimits? announced, bool unannounced = false)
    {
        var left = (long)await Cooldown.EvaluateAsync(Db,
            [Key(provider, "cooldown"), Key(provider, "learned"), Key(provider, "rpm"), Key(provider, "tpm"), Key(provider, "backoff")],
            [
                (long)Math.Ceiling(wait.TotalMilliseconds),
                options.RequestsPerMinute ?? 0,
                options.TokensPerMinute ?? 0,
                announced?.RequestsPerMinute ?? 0,
                announced?.TokensPerMinute ?? 0,
                (long)Burst.TotalMilliseconds,
                unannounced ? "1" : RedisValue.EmptyString,
            ]).ConfigureAwait(false);
        return TimeSpan.FromMilliseconds(Math.Max(0, left));
    }

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

    /// <summary>
    /// Whether a deployment without configured limits is clear, as <c>reserve.lua</c> would find it
    /// (no cooldown, no limit learnt from a 429), read without reserving anything.
    /// </summary>
    public async Task<DeploymentReading> ReadAsync(string provider) =>
        (long)await CooldownLeft.EvaluateAsync(Db, [Key(provider, "cooldown"), Key(provider, "learned")]).ConfigureAwait(false) switch
        {
            0 => DeploymentReading.Clear,
            < 0 => DeploymentReading.LimitsLearned,
            _ => DeploymentReading.CoolingDown,
        };

    /// <summary>Keeps a running call's permit for another lease; false when it had lapsed (and is taken again).</summary>
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
