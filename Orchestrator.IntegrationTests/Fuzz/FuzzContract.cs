using System.Text.Json;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// What the API answers whatever it is sent (docs/api.md): a success or a 4xx RFC 9457 problem
/// details, never a 5xx, and on every answer <c>X-Content-Type-Options: nosniff</c>. Each check
/// returns null when the answer keeps the contract, else what is wrong with it.
/// </summary>
internal static class FuzzContract
{
    /// <summary>What holds for every answer: no 5xx (nor 1xx or 3xx), nosniff, and a 401 that says how to authenticate.</summary>
    public static string? CommonViolation(FuzzAnswer answer)
    {
        var status = answer.Status;
        if (status is < 200 or (>= 300 and < 400) or >= 500)
        {
            return $"neither a success nor a client error: {Trim(answer.Body)}";
        }

        if (!answer.Response.Headers.TryGetValues("X-Content-Type-Options", out var sniff) || !sniff.Contains("nosniff"))
        {
            return "no 'X-Content-Type-Options: nosniff'";
        }

        return status == 401 && !answer.Response.Headers.WwwAuthenticate.Any(h => h.Scheme == "Bearer")
            ? "a 401 without 'WWW-Authenticate: Bearer'"
            : null;
    }

    /// <summary>
    /// A 4xx whose body is <c>application/problem+json</c> with a <c>type</c>, a <c>title</c> and a
    /// <c>status</c> member equal to the HTTP status.
    /// </summary>
    public static string? ProblemViolation(FuzzAnswer answer)
    {
        var status = answer.Status;
        if (status is < 400 or >= 500)
        {
            return $"not a 4xx problem: {Trim(answer.Body)}";
        }

        if (answer.MediaType != "application/problem+json")
        {
            return $"a {status} with content type '{answer.Response.Content.Headers.ContentType}', not application/problem+json: {Trim(answer.Body)}";
        }

        try
        {
            using var problem = JsonDocument.Parse(answer.Body);
            var root = problem.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("status", out var s) || !s.TryGetInt32(out var n) || n != status)
            {
                return $"problem details without a matching status: {Trim(answer.Body)}";
            }

            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString()!.Length == 0)
            {
                return $"problem details without a type: {Trim(answer.Body)}";
            }

            return root.TryGetProperty("title", out var title) && title.ValueKind == JsonValueKind.String && title.GetString()!.Length > 0
                ? null
                : $"problem details without a title: {Trim(answer.Body)}";
        }
        catch (JsonException)
        {
            return $"problem details that are not JSON: {Trim(answer.Body)}";
        }
    }

    /// <summary>A success with a JSON object body (<c>application/json</c>).</summary>
    public static string? JsonObjectViolation(FuzzAnswer answer)
    {
        if (answer.MediaType != "application/json")
        {
            return $"a {answer.Status} with content type '{answer.Response.Content.Headers.ContentType}', not application/json: {Trim(answer.Body)}";
        }

        try
        {
            using var document = JsonDocument.Parse(answer.Body);
            return document.RootElement.ValueKind == JsonValueKind.Object ? null : $"a {answer.Status} whose body is not a JSON object: {Trim(answer.Body)}";
        }
        catch (JsonException)
        {
            return $"a {answer.Status} whose body is not JSON: {Trim(answer.Body)}";
        }
    }

    public static string Trim(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
