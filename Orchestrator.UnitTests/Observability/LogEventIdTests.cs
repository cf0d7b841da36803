using System.Reflection;
using Microsoft.Extensions.Logging;

namespace Orchestrator.UnitTests.Observability;

/// <summary>
/// Every log message the services write has its own event id, so a filter or an alert keyed on one
/// meets one message. The logging source generator derives an id not given from the event name (the
/// method's name unless set): a worker's job retry and its webhook retry, both <c>Retrying</c>,
/// shared id 162811527 (a soak's logs).
/// </summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void NoTwoLogMessages_ShareAnEventId()
    {
        string[] services = ["Orchestrator.Api", "Orchestrator.Worker", "Orchestrator.Jobs", "Orchestrator.ServiceDefaults", "Orchestrator.Llm"];
        var messages = (
            from assembly in services.Select(Assembly.Load)
            from type in assembly.GetTypes()
            from method in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            let attribute = method.GetCustomAttribute<LoggerMessageAttribute>()
            where attribute is not null
            select (Id: attribute.EventId >= 0 ? attribute.EventId.ToString(System.Globalization.CultureInfo.InvariantCulture) : attribute.EventName ?? method.Name,
                Message: $"{type.FullName}.{method.Name}")).ToList();

        var shared = messages.GroupBy(m => m.Id, StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Message))}")
            .ToList();
        Assert.True(messages.Count > 40, $"found only {messages.Count} log messages: the reflection missed them");
        Assert.Empty(shared);
    }
}
