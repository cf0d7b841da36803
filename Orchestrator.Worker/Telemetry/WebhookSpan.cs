using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Telemetry;

/// <summary>
/// The span of one webhook try, a child of the job's submission span: the HTTP POST is its child,
/// so the <c>traceparent</c> the receiver gets names the job's trace and its work joins it. Without
/// it each try's POST was a root trace of its own, tied to nothing.
/// </summary>
internal static class WebhookSpan
{
    public const string Name = "webhook delivery";

    public static Activity? Start(LeasedWebhook leased, int attempt)
    {
        // The delivery must not become a child of whatever span happens to be ambient.
        Activity.Current = null;
        ActivityContext.TryParse(leased.TraceParent, leased.TraceState, isRemote: true, out var submission);
        var activity = OrchestratorTelemetry.ActivitySource.StartActivity(Name, ActivityKind.Internal, submission);
        activity?.AddTag(OrchestratorTags.JobId, leased.Delivery.JobId);
        activity?.AddTag(OrchestratorTags.WebhookId, leased.Delivery.Id);
        activity?.AddTag(OrchestratorTags.WebhookTry, attempt);
        return activity;
    }

    /// <summary>Tags how the try was recorded; a try without a 2xx is an error, with why.</summary>
    public static void Recorded(Activity? activity, WebhookOutcome outcome, string? error)
    {
        if (activity is null)
        {
            return;
        }

        activity.AddTag(OrchestratorTags.WebhookOutcome, Tag(outcome));
        if (outcome != WebhookOutcome.Delivered)
        {
            activity.SetStatus(ActivityStatusCode.Error, error);
        }
    }

    /// <summary>The outcome's name on spans and on <c>orchestrator.webhooks.deliveries</c>.</summary>
    public static string Tag(WebhookOutcome outcome) => outcome switch
    {
        WebhookOutcome.Delivered => "delivered",
        WebhookOutcome.Retrying => "retry",
        _ => "failed",
    };
}
