using System.Reflection;
using System.Text.RegularExpressions;

namespace Orchestrator.Jobs;

/// <summary>
/// The job store's Lua scripts, read once from embedded resources (see <c>Scripts/*.lua</c>). A
/// line <c>--@include name</c> is replaced by <c>Scripts/includes/name.lua</c>, so fragments such
/// as the finishing of a job are written once (as BullMQ's <c>includes/</c>).
/// </summary>
internal static partial class LuaScripts
{
    public static readonly RedisScript Submit = Load("submit");
    public static readonly RedisScript Dispatch = Load("dispatch");
    public static readonly RedisScript Claim = Load("claim");
    public static readonly RedisScript Renew = Load("renew");
    public static readonly RedisScript StartAttempt = Load("start-attempt");
    public static readonly RedisScript FinishAttempt = Load("finish-attempt");
    public static readonly RedisScript Release = Load("release");
    public static readonly RedisScript Defer = Load("defer");
    public static readonly RedisScript Requeue = Load("requeue");
    public static readonly RedisScript Promote = Load("promote");
    public static readonly RedisScript SetAside = Load("set-aside");
    public static readonly RedisScript PruneConsumers = Load("prune-consumers");
    public static readonly RedisScript FleetLease = Load("fleet-lease");
    public static readonly RedisScript Cancel = Load("cancel");
    public static readonly RedisScript Redrive = Load("redrive");
    public static readonly RedisScript AppendDelta = Load("append-delta");
    public static readonly RedisScript ReadEvents = Load("read-events");
    public static readonly RedisScript ClaimWebhooks = Load("claim-webhooks");
    public static readonly RedisScript PruneExpired = Load("prune-expired");
    public static readonly RedisScript PruneIndex = Load("prune-index");
    public static readonly RedisScript RecordWebhook = Load("record-webhook");
    public static readonly RedisScript ReleaseWebhook = Load("release-webhook");
    public static readonly RedisScript RecordPartitions = Load("record-partitions");
    public static readonly RedisScript TenantTokens = Load("tenant-tokens");

    private static RedisScript Load(string name) => new(
        Include().Replace(Read(name), match => Read("includes/" + match.Groups["name"].Value)));

    private static string Read(string name)
    {
        var resource = $"Orchestrator.Jobs.Scripts.{name}.lua";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded Lua script '{resource}' is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^--@include (?<name>[a-z-]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex Include();
}
