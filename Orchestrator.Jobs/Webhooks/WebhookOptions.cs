using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Jobs;

/// <summary>
/// Webhook deliveries (issue 19), bound from the <c>Webhooks</c> section. The API reads
/// <see cref="AllowPrivateNetworks"/> when it checks a <c>callbackUrl</c>; workers read the rest.
/// </summary>
public sealed class WebhookOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Webhooks";

    /// <summary>The longest <c>callbackUrl</c>, in characters.</summary>
    public const int MaxUrlLength = 2048;

    /// <summary>Most keys one secret setting holds (a rotation: the new one and those before it).</summary>
    public const int MaxKeys = 3;

    /// <summary>
    /// The signing secret, as Standard Webhooks gives it: <c>whsec_</c> followed by base64 of 24 to
    /// 64 random bytes (the prefix is optional); or, to rotate it, up to <see cref="MaxKeys"/> such
    /// keys separated by spaces, each signing every delivery (the header then carries one signature
    /// per key, as the specification allows), so receivers move from the old key to the new one
    /// without a delivery failing verification. Default none: without it workers send only the
    /// deliveries of tenants with their own (<see cref="TenantSecrets"/>), and with neither none
    /// (deliveries wait in the outbox, and a warning is logged at start).
    /// </summary>
    public string? Secret { get; set; }

    /// <summary>
    /// A tenant's own signing secret, by tenant name (<c>Webhooks:TenantSecrets:{tenant}</c>), in the
    /// form of <see cref="Secret"/>: that tenant's deliveries are signed with it, so a tenant, who must
    /// hold the secret its receiver verifies with, cannot sign a delivery another tenant's receiver
    /// accepts. A tenant without one is signed with <see cref="Secret"/>; without that too, its
    /// deliveries are not sent. Default none.
    /// </summary>
    public Dictionary<string, string> TenantSecrets { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Lifts both SSRF rules: <c>http</c> callbacks are accepted and any address may be reached
    /// (loopback, private networks). For tests and local development only. Default false.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Wait before the second try; each later one doubles it, up to <see cref="MaxDelay"/>. Default 5 s.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest wait between two tries. Default 1 h.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long after its first try a delivery is retried before it is given up (<c>failed</c>). Default 24 h.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long one try may take (connect, send, answer) before it counts as failed. Default 15 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a worker holds a delivery it sends; a worker that dies mid-send leaves it to another
    /// after this. Must exceed <see cref="RequestTimeout"/>. Default 60 s.
    /// </summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often an idle worker looks for due deliveries. Default 1 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deliveries one worker sends at once. Default 16.</summary>
    [Range(1, 1_000)]
    public int MaxConcurrentDeliveries { get; set; } = 16;

    /// <summary>
    /// Tries one worker sends to one receiver (scheme, host and port) at once, of its
    /// <see cref="MaxConcurrentDeliveries"/>: a delivery leased beyond it is put back unsent, no try
    /// counted, due again about when one of the receiver's slots frees (at most <see cref="PollInterval"/>
    /// later: the worker's <c>PutBackPacer</c>). Default unset: half of
    /// <see cref="MaxConcurrentDeliveries"/>, rounded up (8 of 16).
    /// </summary>
    [Range(1, 1_000)]
    public int? MaxConcurrentPerReceiver { get; set; }

    /// <summary>The tries one worker sends to one receiver at once (<see cref="MaxConcurrentPerReceiver"/>, or its default).</summary>
    public int PerReceiverLimit() => MaxConcurrentPerReceiver ?? (MaxConcurrentDeliveries + 1) / 2;

    /// <summary>
    /// Tries one worker sends for one tenant's jobs at once, of its <see cref="MaxConcurrentDeliveries"/>,
    /// whichever receivers they go to: a delivery leased beyond it is put back as one beyond
    /// <see cref="MaxConcurrentPerReceiver"/> is. So callbacks to many receivers that hang leave the
    /// other tenants slots. Default unset: all but a quarter of <see cref="MaxConcurrentDeliveries"/>
    /// (at least one less, at least one left: 12 of 16), more than one receiver's share, so that
    /// within a tenant too a receiver that hangs leaves its other receivers slots.
    /// </summary>
    [Range(1, 1_000)]
    public int? MaxConcurrentPerTenant { get; set; }

    /// <summary>The tries one worker sends for one tenant at once (<see cref="MaxConcurrentPerTenant"/>, or its default).</summary>
    public int PerTenantLimit() => MaxConcurrentPerTenant ?? Math.Max(1, MaxConcurrentDeliveries - Math.Max(1, MaxConcurrentDeliveries / 4));

    /// <summary>
    /// Tries in a row without a 2xx that open a receiver's circuit (its scheme, host and port) in a
    /// worker: its deliveries are then not sent for <see cref="CircuitBreakDuration"/> (each recorded
    /// as a failed try, due again when the break ends), then one probes it. 0: never. Default 5.
    /// </summary>
    [Range(0, 1_000)]
    public int CircuitFailures { get; set; } = 5;

    /// <summary>How long an open receiver circuit sends nothing before one try probes it. Default 30 s.</summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The secret's keys (their bytes), in the order given; none when no secret is configured.</summary>
    public IReadOnlyList<byte[]> SecretKeys() => Keys(Secret) ?? [];

    /// <summary>Each tenant's own secret's keys (<see cref="TenantSecrets"/>), by tenant name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<byte[]>> TenantSecretKeys() =>
        TenantSecrets.Where(t => t.Value is { Length: > 0 }).ToDictionary(t => t.Key, t => (IReadOnlyList<byte[]>)Keys(t.Value)!, StringComparer.Ordinal);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Secret is { Length: > 0 } secret && Keys(secret) is null)
        {
            yield return new ValidationResult($"Webhooks:Secret {KeysRule}", [nameof(Secret)]);
        }

        foreach (var (tenant, tenantSecret) in TenantSecrets)
        {
            if (!TenantNames.IsValid(tenant))
            {
                yield return new ValidationResult($"Webhooks:TenantSecrets:{tenant}: '{tenant}' is not a tenant name ({TenantNames.Rule}).", [nameof(TenantSecrets)]);
            }
            else if (Keys(tenantSecret) is null)
            {
                yield return new ValidationResult($"Webhooks:TenantSecrets:{tenant} {KeysRule}", [nameof(TenantSecrets)]);
            }
        }

        // A rule between two settings is checked against the other's own bound while that one is wrong:
        // one mistake, one line (Webhooks:MaxDelay=-1 also blamed Webhooks:BaseDelay).
        var maxDelayIsValid = MaxDelay >= TimeSpan.FromMilliseconds(10) && MaxDelay <= TimeSpan.FromDays(1);
        if (BaseDelay < TimeSpan.FromMilliseconds(10) || BaseDelay > (maxDelayIsValid ? MaxDelay : TimeSpan.FromDays(1)))
        {
            yield return new ValidationResult("Webhooks:BaseDelay must be at least 10 ms and at most Webhooks:MaxDelay.", [nameof(BaseDelay)]);
        }

        if (!maxDelayIsValid)
        {
            yield return new ValidationResult("Webhooks:MaxDelay must be from 10 ms to one day.", [nameof(MaxDelay)]);
        }

        if (MaxAge < TimeSpan.Zero || MaxAge > TimeSpan.FromDays(7))
        {
            yield return new ValidationResult("Webhooks:MaxAge must be from 00:00:00 to 7 days.", [nameof(MaxAge)]);
        }

        var requestTimeoutIsValid = RequestTimeout >= TimeSpan.FromMilliseconds(100) && RequestTimeout <= TimeSpan.FromMinutes(5);
        if (!requestTimeoutIsValid)
        {
            yield return new ValidationResult("Webhooks:RequestTimeout must be from 100 ms to 5 min.", [nameof(RequestTimeout)]);
        }

        if (LeaseTimeout <= (requestTimeoutIsValid ? RequestTimeout : TimeSpan.FromMilliseconds(100)) || LeaseTimeout > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Webhooks:LeaseTimeout must exceed Webhooks:RequestTimeout and be at most 01:00:00.", [nameof(LeaseTimeout)]);
        }

        if (PollInterval < TimeSpan.FromMilliseconds(10) || PollInterval > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Webhooks:PollInterval must be from 10 ms to 1 min.", [nameof(PollInterval)]);
        }

        if (CircuitBreakDuration < TimeSpan.FromMilliseconds(100) || CircuitBreakDuration > TimeSpan.FromDays(1))
        {
            yield return new ValidationResult("Webhooks:CircuitBreakDuration must be from 100 ms to one day.", [nameof(CircuitBreakDuration)]);
        }
    }

    private const string KeysRule = "must be 'whsec_' followed by base64 of 24 to 64 random bytes (or, to rotate it, up to 3 such keys separated by spaces).";

    /// <summary>The keys of a secret setting, or null when it is not 1 to <see cref="MaxKeys"/> valid keys.</summary>
    private static List<byte[]>? Keys(string? secret)
    {
        var keys = new List<byte[]>(MaxKeys);
        foreach (var text in (secret ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (keys.Count == MaxKeys || Decode(text) is not { Length: >= 24 and <= 64 } key)
            {
                return null;
            }

            keys.Add(key);
        }

        return keys.Count > 0 ? keys : null;
    }

    private static byte[]? Decode(string secret)
    {
        var base64 = secret.StartsWith("whsec_", StringComparison.Ordinal) ? secret["whsec_".Length..] : secret;
        var buffer = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, buffer, out var written) ? buffer[..written] : null;
    }
}
