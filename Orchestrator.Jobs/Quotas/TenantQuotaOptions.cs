using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Orchestrator.Jobs;

/// <summary>
/// Every tenant's quotas (<see cref="TenantQuotas"/>), bound from the <c>Tenants</c> section
/// (<c>Tenants:{tenant}:MaxQueuedJobs</c>, …) by the API and by the workers alike, and validated at
/// start: a bad tenant name or an out-of-range value stops the process with a line naming the key.
/// </summary>
public sealed class TenantQuotaOptions
{
    /// <summary>The configuration section (shared with the tenants' API keys).</summary>
    public const string Section = "Tenants";

    private static readonly TenantQuotas Unlimited = new();

    /// <summary>The configured tenants' quotas by tenant name. Default none (no tenant has a quota).</summary>
    public Dictionary<string, TenantQuotas> Tenants { get; } = new(StringComparer.Ordinal);

    /// <summary>The quotas of <paramref name="tenant"/>; all unset when it has none.</summary>
    public TenantQuotas For(string tenant) => Tenants.TryGetValue(tenant, out var quotas) ? quotas : Unlimited;
}

/// <summary>Registers <see cref="TenantQuotaOptions"/>.</summary>
public static class TenantQuotaServiceCollectionExtensions
{
    /// <summary>Binds <see cref="TenantQuotaOptions"/> from the <c>Tenants</c> section, validated at start.</summary>
    public static IServiceCollection AddTenantQuotas(this IServiceCollection services)
    {
        services.AddOptions<TenantQuotaOptions>()
            .Configure<IConfiguration>((options, configuration) => configuration.GetSection(TenantQuotaOptions.Section).Bind(options.Tenants))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<TenantQuotaOptions>, TenantQuotaOptionsValidator>();
        return services;
    }
}

/// <summary>Names the key of every bad setting (<c>Tenants:acme:MaxQueuedJobs must be …</c>).</summary>
internal sealed class TenantQuotaOptionsValidator : IValidateOptions<TenantQuotaOptions>
{
    public ValidateOptionsResult Validate(string? name, TenantQuotaOptions options)
    {
        var errors = new List<string>();
        foreach (var (tenant, quotas) in options.Tenants)
        {
            if (!TenantNames.IsValid(tenant))
            {
                errors.Add(TenantNames.InvalidInConfiguration(tenant));
                continue;
            }

            var results = new List<ValidationResult>();
            Validator.TryValidateObject(quotas, new ValidationContext(quotas), results, validateAllProperties: true);
            errors.AddRange(results.Select(r =>
                r.MemberNames.FirstOrDefault() == nameof(TenantQuotas.Weight)
                    ? $"{TenantQuotaOptions.Section}:{tenant}:{nameof(TenantQuotas.Weight)} must be from 1 to {TenantQuotas.MaxWeight.ToString(System.Globalization.CultureInfo.InvariantCulture)} (or unset for 1)."
                    : $"{TenantQuotaOptions.Section}:{tenant}:{r.MemberNames.FirstOrDefault()} must be from 1 to {TenantQuotas.Max.ToString(System.Globalization.CultureInfo.InvariantCulture)} (or unset for no limit)."));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
