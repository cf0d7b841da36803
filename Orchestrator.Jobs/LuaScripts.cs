using System.Reflection;

namespace Orchestrator.Jobs;

/// <summary>The job store's Lua scripts, read once from embedded resources (see <c>Scripts/*.lua</c>).</summary>
internal static class LuaScripts
{
    public static readonly string Submit = Load("submit");
    public static readonly string Claim = Load("claim");
    public static readonly string Renew = Load("renew");
    public static readonly string StartAttempt = Load("start-attempt");
    public static readonly string FinishAttempt = Load("finish-attempt");
    public static readonly string Release = Load("release");

    private static string Load(string name)
    {
        var resource = $"Orchestrator.Jobs.Scripts.{name}.lua";
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded Lua script '{resource}' is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
