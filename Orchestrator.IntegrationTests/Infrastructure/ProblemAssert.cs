using System.Net;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>Assertions on RFC 9457 problem-details answers.</summary>
internal static class ProblemAssert
{
    /// <summary>
    /// Asserts the status, the <c>application/problem+json</c> content type and a body whose
    /// <c>status</c> matches; returns the parsed body (the caller disposes it).
    /// </summary>
    public static async Task<JsonDocument> IsProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.True(expected == response.StatusCode, $"Expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body);
        Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
        // One style of title for every problem: the framework's reason phrases ("Method Not Allowed") are put in the API's sentence case.
        var phrase = Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase((int)expected);
        if (phrase.Contains(' ', StringComparison.Ordinal) && problem.RootElement.TryGetProperty("title", out var title))
        {
            Assert.NotEqual(phrase, title.GetString());
        }

        return problem;
    }

    /// <summary>
    /// Asserts a problem whose <c>errors</c> has an entry for <paramref name="mention"/>, or whose
    /// <c>detail</c> contains it (case-insensitive): a person can tell what to fix.
    /// </summary>
    public static async Task IsProblemNamingAsync(HttpResponseMessage response, HttpStatusCode expected, string mention)
    {
        using var problem = await IsProblemAsync(response, expected);
        var root = problem.RootElement;
        if (root.TryGetProperty("errors", out var errors))
        {
            Assert.True(errors.TryGetProperty(mention, out var messages),
                $"The problem's errors do not name '{mention}': {root.GetRawText()}");
            Assert.NotEqual(0, messages.GetArrayLength());
            return;
        }

        var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
        Assert.True(detail?.Contains(mention, StringComparison.OrdinalIgnoreCase) == true,
            $"The problem's detail does not mention '{mention}': {root.GetRawText()}");
    }
}
