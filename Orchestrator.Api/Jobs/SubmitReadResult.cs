using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>Either a valid request, or the problem to answer with.</summary>
internal sealed record SubmitReadResult(
    JobRequest? Request,
    int StatusCode,
    string? Title,
    string? Detail,
    IDictionary<string, string[]>? Errors)
{
    public static SubmitReadResult Ok(JobRequest request) => new(request, StatusCodes.Status202Accepted, null, null, null);

    public static SubmitReadResult Fail(int status, string title, string detail) => new(null, status, title, detail, null);

    public static SubmitReadResult Invalid(IDictionary<string, string[]> errors) =>
        new(null, StatusCodes.Status400BadRequest, "The job request is invalid", null, errors);
}
