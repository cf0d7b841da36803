using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.Api;

/// <summary>
/// Source-generated JSON for everything the API reads and writes (no reflection on the hot path).
/// Names are written camelCase and read in any case (as ASP.NET Core reads every other body, the
/// filtered redrive's included: a client's <c>"MaxTokens"</c> was silently dropped), numbers are JSON
/// numbers (never strings), a property appears once (in any case: <c>prompt</c> and <c>PROMPT</c> are
/// one), and nesting is bounded: what a <c>POST /jobs</c> body may be, and what the OpenAPI document says.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    PropertyNameCaseInsensitive = true,
    NumberHandling = JsonNumberHandling.Strict,
    AllowDuplicateProperties = false,
    MaxDepth = JobLimits.MaxJsonDepth,
    Converters = [typeof(UtcTimestampConverter)])]
[JsonSerializable(typeof(SubmitJobRequest))]
[JsonSerializable(typeof(SubmitJobResponse))]
[JsonSerializable(typeof(JobResource))]
[JsonSerializable(typeof(WebhookDeliveryResource))]
[JsonSerializable(typeof(DeadLetterPageResource))]
[JsonSerializable(typeof(JobPageResource))]
[JsonSerializable(typeof(JobSummaryPageResource))]
[JsonSerializable(typeof(JobCountsResource))]
[JsonSerializable(typeof(ModelListResource))]
[JsonSerializable(typeof(JobStatusEvent))]
[JsonSerializable(typeof(JobDeltaEvent))]
[JsonSerializable(typeof(RedriveRequest))]
[JsonSerializable(typeof(RedriveResultResource))]
[JsonSerializable(typeof(ProblemDetails))]
[JsonSerializable(typeof(HttpValidationProblemDetails))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
