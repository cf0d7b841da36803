using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// A listing's <c>?limit=</c>, bound as a string and read here: bound as an <c>int?</c>, a value that
/// is no int ("abc", "1.5", "", too large, sent twice) was refused by the framework itself, with a
/// detail naming the C# type (or, outside Development, none) instead of the accepted range. The
/// OpenAPI document still states it as an integer (<c>OpenApiContract</c>).
/// </summary>
internal static class QueryLimit
{
    /// <summary>Absent: null. Else whether it is an integer from 1 to <paramref name="max"/>.</summary>
    public static bool TryRead(string? text, int max, out int? limit)
    {
        limit = null;
        if (text is null)
        {
            return true;
        }

        // Digits only, as ?wait= reads its number: "+5" and " 5" were read as 5 (the framework's own int
        // styles) while the docs, and wait, refused anything but a number.
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value is < 1 || value > max)
        {
            return false;
        }

        limit = value;
        return true;
    }

    /// <summary>The 400 of a <c>limit</c> that is not an integer from 1 to <paramref name="max"/>, whatever was sent.</summary>
    public static ProblemHttpResult Invalid(int max) =>
        TypedResults.Problem($"limit must be from 1 to {max}.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid limit");
}
