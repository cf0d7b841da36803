namespace Orchestrator.Api.Auth;

/// <summary>Log lines of the API's authentication set-up.</summary>
internal static partial class AuthLog
{
    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Auth:AllowAnonymous is true in environment {Environment}: a request without a key acts as tenant 'default' (submit, read, cancel). Set it only for a local run.")]
    public static partial void AnonymousOutsideDevelopment(ILogger logger, string environment);
}
