using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.Api.OpenApi;

/// <summary>
/// What the generator cannot see in the code and the OpenAPI document must still state: header
/// parameters and response headers, problem extension members, enums, the configured prompt limit,
/// metadata limits, and times as strings. The statuses themselves are endpoint metadata
/// (<see cref="JobsApi"/>); the limits are read from <see cref="JobLimits"/> and <see cref="ApiOptions"/>.
/// </summary>
internal static class OpenApiContract
{
    /// <summary>The API's address when run by the AppHost with its defaults.</summary>
    private const string DefaultServer = "http://localhost:3000";

    public static OpenApiOptions AddOrchestratorContract(this OpenApiOptions options)
    {
        // HEAD of a GET resource is the GET without its body (ReadMethods): no operation of its own.
        var included = options.ShouldInclude;
        options.ShouldInclude = description => !HttpMethods.IsHead(description.HttpMethod ?? "") && included(description);
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Orchestrator API",
                Version = "v1",
                Description = "Submit LLM jobs, read their status and result, and list the jobs that failed for good. " +
                    "Every error is an RFC 9457 problem (application/problem+json).",
            };
            // A fixed address, not the one a request came in on: the document is checked in.
            document.Servers = [new OpenApiServer { Url = DefaultServer, Description = "The AppHost's default (Api:Port)." }];
            document.Tags = new HashSet<OpenApiTag> { new() { Name = "Jobs", Description = "Jobs and dead letters." } };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (status is "429" or "503" && response is OpenApiResponse later)
                {
                    AddHeader(later, "Retry-After", "Seconds to wait before retrying.", Integer(minimum: 0));
                }

                if (status is "401" && response is OpenApiResponse unauthorized)
                {
                    AddHeader(unauthorized, "WWW-Authenticate", "Bearer: send a key as 'Authorization: Bearer <key>' (or 'x-api-key').",
                        new OpenApiSchema { Type = JsonSchemaType.String });
                }

                // The problem types a client tells these answers apart by (docs/api.md).
                if (status is "503" && response is OpenApiResponse unavailable)
                {
                    unavailable.Description = "Service Unavailable: a problem of type urn:orchestrator:problem:store-unavailable " +
                        "(Redis does not answer, or answered that it cannot serve the request yet)" +
                        (operation.OperationId switch
                        {
                            "SubmitJob" => ", urn:orchestrator:problem:not-replicated (Redis:WaitReplicas not confirmed) or " +
                                "urn:orchestrator:problem:storage-full (Redis at its memory limit)",
                            "GetJob" or "GetJobEvents" => " or urn:orchestrator:problem:too-many-waits (every place to wait is taken)",
                            _ => "",
                        }) + ".";
                }

                // Kestrel's own 431 comes before the app and has no body: a generated client must not insist on one.
                if (status is "431" && response is OpenApiResponse headersTooLarge)
                {
                    headersTooLarge.Description = "Request Header Fields Too Large: a problem when the headers total over 32 KiB; a request " +
                        "head over 64 KiB or with more than 100 header fields is refused by the server itself, with no body.";
                }

                if (status is "501" && response is OpenApiResponse notImplemented)
                {
                    notImplemented.Description = "Not Implemented: the body was sent with a transfer coding other than chunked " +
                        "(Transfer-Encoding: gzip, chunked); send it without one.";
                }

                if (status is "409" && response is OpenApiResponse conflict && operation.OperationId is "CancelJob" or "RedriveDeadLetter")
                {
                    conflict.Description = "Conflict: a problem of type urn:orchestrator:problem:job-state (the job's state does not allow it).";
                }
            }

            switch (operation.OperationId)
            {
                case "SubmitJob":
                    operation.Parameters ??= [];
                    foreach (var name in (string[])[IdempotencyKeyHeader.Custom, IdempotencyKeyHeader.Standard])
                    {
                        operation.Parameters.Add(new OpenApiParameter
                        {
                            Name = name,
                            In = ParameterLocation.Header,
                            Description = "Makes a retried submission answer for the first one (same key, same body: the same 202). " +
                                $"'{IdempotencyKeyHeader.Custom}' and '{IdempotencyKeyHeader.Standard}' mean the same; send one.",
                            Schema = new OpenApiSchema
                            {
                                Type = JsonSchemaType.String,
                                MinLength = 1,
                                MaxLength = IdempotencyKeyHeader.MaxLength,
                                Pattern = "^[\\x20-\\x7E]+$",
                            },
                        });
                    }

                    if (operation.Responses?["429"] is OpenApiResponse refused)
                    {
                        refused.Description = "Too Many Requests: a problem of type urn:orchestrator:problem:queue-full (Api:MaxQueuedJobs, " +
                            "the backlog bound) or urn:orchestrator:problem:quota-exceeded (a tenant quota), the latter with the extension " +
                            "members 'quota' (MaxQueuedJobs or RequestsPerMinute) and 'limit' (its value).";
                    }

                    if (operation.Responses?["202"] is OpenApiResponse accepted)
                    {
                        AddHeader(accepted, "Location", "The job's URL (/jobs/{jobId}).", new OpenApiSchema { Type = JsonSchemaType.String });
                        AddHeader(accepted, "Idempotent-Replayed", "Present (true) when this answer replays an earlier submission with the same key.",
                            new OpenApiSchema { Type = JsonSchemaType.String, Enum = [JsonValue.Create("true")] });
                    }

                    break;
                case "GetJob":
                    // Bound as a string (JobWaits.TryParse reads it), so the generator saw no number.
                    foreach (var parameter in Parameters(operation).Where(p => p.Name == "wait"))
                    {
                        parameter.Description = $"Seconds to wait for the job to become final, 0 to {JobWaits.MaxWaitSeconds}: digits with an optional " +
                            "decimal point ('30', '0.5', '.5'); a sign, an exponent, spaces or anything else → 400. Absent or 0: the job as it is now.";
                        parameter.Schema = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Number,
                            Minimum = "0",
                            Maximum = JobWaits.MaxWaitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            Default = JsonValue.Create(0),
                        };
                    }

                    break;
                case "GetJobEvents":
                    // Read from the request's headers (JobEventsApi), which the generator cannot see.
                    operation.Parameters ??= [];
                    operation.Parameters.Add(new OpenApiParameter
                    {
                        Name = "Last-Event-ID",
                        In = ParameterLocation.Header,
                        Description = "Resume after this event (an EventSource sends it when it reconnects): the id of an event this stream sent, " +
                            "its number in the job's events ('1', '2', …) or '<milliseconds>-<sequence>' (the first events of a job whose events " +
                            "began before they were numbered), each number at most 2^53 − 1. Anything else → 400, and so is an id later than the job's " +
                            "last event (no stream sent it yet); absent or empty: from the job's first event.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = JobStore.MaxEventIdLength, Pattern = "^[0-9]+(-[0-9]+)?$" },
                    });
                    if (operation.Responses?["200"] is OpenApiResponse stream && stream.Content?["text/event-stream"] is { Schema: OpenApiSchema events })
                    {
                        events.Description = "Server-Sent Events: 'status' (data: jobId, status, attempt, at), 'delta' (data: jobId, attempt, text) " +
                            "and 'done' (data: the job, as GET /jobs/{jobId} answers; then the stream ends), each with its id; " +
                            "': keep-alive' comments while nothing happens.";
                    }

                    break;
                case "CancelJob":
                    if (operation.Responses?["202"] is OpenApiResponse stillProcessing)
                    {
                        AddHeader(stillProcessing, "Location", "The job's URL (/jobs/{jobId}): read it (or wait on it with ?wait=) for the canceled job.",
                            new OpenApiSchema { Type = JsonSchemaType.String });
                    }

                    break;
                case "ListJobs":
                    foreach (var parameter in Parameters(operation))
                    {
                        (parameter.Description, parameter.Schema) = parameter.Name switch
                        {
                            "limit" => ("Items per page.", Integer(minimum: 1, maximum: JobListingApi.PageLimit, defaultValue: JobListingApi.PageDefault)),
                            "status" => ("Only jobs in this status (any other value → 400).",
                                new OpenApiSchema { Type = JsonSchemaType.String, Enum = Values([.. JobStatus.All]) }),
                            "model" => ("Only jobs for this model (as the job's 'model' shows it).",
                                new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = JobLimits.MaxModelLength }),
                            _ => ScopeOrCursor(parameter, "jobs"),
                        };
                    }

                    break;
                case "CountJobs":
                    foreach (var parameter in Parameters(operation))
                    {
                        (parameter.Description, parameter.Schema) = ScopeOrCursor(parameter, "jobs");
                    }

                    break;
                case "ListDeadLetters":
                    foreach (var parameter in Parameters(operation))
                    {
                        (parameter.Description, parameter.Schema) = parameter.Name switch
                        {
                            "limit" => ("Items per page.", Integer(minimum: 1, maximum: JobsApi.DeadLetterPageLimit, defaultValue: JobsApi.DeadLetterPageDefault)),
                            _ => ScopeOrCursor(parameter, "dead letters"),
                        };
                    }

                    break;
            }

            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            var type = context.JsonTypeInfo.Type;
            if (schema.Format == "date-time")
            {
                // Written by UtcTimestampConverter, which the generator cannot look into.
                schema.Type = Nullable.GetUnderlyingType(type) is null ? JsonSchemaType.String : JsonSchemaType.String | JsonSchemaType.Null;
            }
            else if (type == typeof(ProblemDetails) || type == typeof(HttpValidationProblemDetails))
            {
                schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
                schema.Properties["traceId"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Description = "The request's W3C trace context as a traceparent (00-<trace id>-<span id>-<flags>): its 32-hex trace id finds the request in the telemetry, as a job's traceId does.",
                };
                // A quota-exceeded 429's own members: generated clients saw them only in the 429's prose.
                schema.Properties["quota"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String,
                    Description = "In a quota-exceeded problem (429): the quota reached (MaxQueuedJobs, RequestsPerMinute, ReadsPerSecondPerTenant, MaxConcurrentWaitsPerTenant).",
                };
                schema.Properties["limit"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer,
                    Format = "int64",
                    Description = "In a quota-exceeded problem (429): the quota's configured value.",
                };
            }
            else if (type == typeof(SubmitJobRequest) && schema.Properties is { } request)
            {
                var maxPromptLength = context.ApplicationServices.GetRequiredService<IOptions<ApiOptions>>().Value.MaxPromptLength;
                request["prompt"] = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = maxPromptLength, Description = "Not blank; lengths count Unicode characters." };
                request["metadata"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object | JsonSchemaType.Null,
                    MaxProperties = JobLimits.MaxMetadataEntries,
                    PropertyNames = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = JobLimits.MaxMetadataKeyLength },
                    AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = JobLimits.MaxMetadataValueLength },
                };
                // The attributes state only the longest name; the rest is checked in Validate.
                const string modelName = "A served model's name (GET /models): not blank, no whitespace at either end, no control or format characters.";
                request["model"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String | JsonSchemaType.Null, MinLength = 1, MaxLength = JobLimits.MaxModelLength, Description = modelName,
                };
                request["fallbackModels"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.Array | JsonSchemaType.Null,
                    MaxItems = JobLimits.MaxFallbackModels,
                    Items = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = JobLimits.MaxModelLength, Description = modelName },
                    Description = "Tried in order when the model's circuit is open or its context window is too small.",
                };
                request["callbackUrl"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String | JsonSchemaType.Null,
                    Format = "uri",
                    MaxLength = WebhookOptions.MaxUrlLength,
                    Description = "Absolute https URL whose host resolves only to public addresses (else 400); gets a signed " +
                        "Standard Webhooks delivery at each final transition (docs/webhooks.md).",
                };
                request["priority"] = new OpenApiSchema
                {
                    Type = JsonSchemaType.String | JsonSchemaType.Null,
                    Enum = [.. Values(JobPriority.High, JobPriority.Normal, JobPriority.Low), null!],
                    Description = "Orders the caller's own jobs (default normal); a low job that has waited Scheduling:MaxLowPriorityWait (10 min) goes first of its tenant's, so it starts about one running job's time after that wait.",
                };
            }
            else if (type == typeof(RedriveRequest) && schema.Properties is { } filter)
            {
                // From/To are read by OffsetTimeConverter, which the generator cannot look into.
                foreach (var time in (string[])["from", "to"])
                {
                    filter[time] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String | JsonSchemaType.Null,
                        Format = "date-time",
                        Description = "ISO 8601 with its UTC offset ('Z' or '±hh:mm'); a time without one → 400.",
                    };
                }

                if (filter["errorType"] is OpenApiSchema errorType)
                {
                    errorType.MinLength = 1;
                    errorType.Pattern = "\\S";
                    errorType.Description = "The jobs' error.type (e.g. transient); not blank (→ 400): omit it for every error type.";
                }

                if (filter["tenant"] is OpenApiSchema tenant)
                {
                    // The rule the query parameters state: the body's tenant is checked by it too (→ 400).
                    tenant.Pattern = TenantNames.PatternText;
                }

                if (filter["limit"] is OpenApiSchema limit)
                {
                    limit.Minimum = "1";
                    limit.Maximum = JobControlApi.RedriveLimit.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    limit.Default = JsonValue.Create(JobControlApi.RedriveDefault);
                }
            }
            else if (type == typeof(SubmitJobResponse) && schema.Properties?["status"] is OpenApiSchema submitted)
            {
                // A submission answers the status it made, and a replay the same bytes.
                submitted.Enum = Values(JobStatus.Queued);
                submitted.Description = "Always queued: the status the submission made (a replay answers the same bytes); GET /jobs/{jobId} says the job's status now.";
            }
            else if (type == typeof(WebhookDeliveryResource) && schema.Properties?["status"] is OpenApiSchema deliveryStatus)
            {
                deliveryStatus.Enum = Values("pending", "delivered", "failed");
            }
            else if (type == typeof(JobResource) && schema.Properties?["status"] is OpenApiSchema status)
            {
                status.Enum = Values(JobStatus.Queued, JobStatus.Processing, JobStatus.Retrying, JobStatus.Completed, JobStatus.Failed, JobStatus.Canceled);
                if (schema.Properties["priority"] is OpenApiSchema priority)
                {
                    priority.Enum = Values(JobPriority.High, JobPriority.Normal, JobPriority.Low);
                }
            }
            else if (type == typeof(AttemptResource) && schema.Properties?["outcome"] is OpenApiSchema outcome)
            {
                // Null while the attempt runs.
                // (A JSON null is a null JsonNode; the model's annotation does not allow for it.)
                outcome.Enum = [.. Values(AttemptOutcome.Succeeded, AttemptOutcome.TransientFailure, AttemptOutcome.PermanentFailure, AttemptOutcome.Timeout,
                    AttemptOutcome.WorkerLost, AttemptOutcome.Canceled, AttemptOutcome.Released), null!];
            }

            return Task.CompletedTask;
        });
        return options;
    }

    private static IEnumerable<OpenApiParameter> Parameters(OpenApiOperation operation) => operation.Parameters?.OfType<OpenApiParameter>() ?? [];

    /// <summary>The listings' shared parameters, <c>cursor</c> and <c>tenant</c>.</summary>
    private static (string Description, IOpenApiSchema? Schema) ScopeOrCursor(OpenApiParameter parameter, string listed) => parameter.Name switch
    {
        "cursor" => ("nextCursor from the previous page; omit for the first page.", parameter.Schema),
        "tenant" => ($"With an admin key: only this tenant's {listed} (default: every tenant's). A tenant's key may name only its own tenant (else 403).",
            new OpenApiSchema { Type = JsonSchemaType.String, Pattern = TenantNames.PatternText }),
        // A parameter added to a listing must be described here, not given another's description.
        _ => throw new InvalidOperationException($"The OpenAPI contract does not describe the parameter '{parameter.Name}'."),
    };

    private static void AddHeader(OpenApiResponse response, string name, string description, OpenApiSchema schema)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeader { Description = description, Schema = schema };
    }

    private static OpenApiSchema Integer(int minimum, int? maximum = null, int? defaultValue = null) => new()
    {
        Type = JsonSchemaType.Integer,
        Format = "int32",
        Minimum = minimum.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Maximum = maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Default = defaultValue is { } value ? JsonValue.Create(value) : null,
    };

    private static List<JsonNode> Values(params string[] values) => [.. values.Select(v => (JsonNode)JsonValue.Create(v))];
}
