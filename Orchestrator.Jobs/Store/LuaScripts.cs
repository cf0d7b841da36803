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
    public static readonly string Submit = Load("submit");
    public static readonly string Dispatch = Load("dispatch");
    public static readonly string Claim = Load("claim");
    public static readonly string Renew = Load("renew");
    public static readonly string StartAttempt = Load("start-attempt");
    public static readonly string FinishAttempt = Load("finish-attempt");
    public static readonly string Release = Load("release");
    public static readonly string Defer = Load("defer");
    public static readonly string Promote = Load("promote");
    public static readonly string SetAside = Load("set-aside");
    public static readonly string PruneConsumers = Load("prune-consumers");
    public static readonly string Cancel = Load("cancel");
    public static readonly string Redrive = Load("redrive");
    public static readonly string AppendDelta = Load("append-delta");
    public static readonly string ClaimWebhooks = Load("claim-webhooks");
    public static readonly string RecordWebhook = Load("record-webhook");
    public static readonly string RecordPartitions = Load("record-partitions");
    public static readonly string TenantTokens = Load("tenant-tokens");

    private static string Load(string name) =>
        Include().Replace(Read(name), match => Read("includes/" + match.Groups["name"].Value));

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
