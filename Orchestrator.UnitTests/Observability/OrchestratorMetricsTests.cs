using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.UnitTests.Observability;

/// <summary>
/// The seconds histograms as the OpenTelemetry SDK exports them: with bucket boundaries in seconds.
/// With the SDK's millisecond defaults every latency under 5 s fell into one bucket (an outside audit:
/// 299 attempts of 0.2–3 s, all in (0, 5]).
/// </summary>
public sealed class OrchestratorMetricsTests
{
    public static TheoryData<string> SecondsHistograms => new()
    {
        "orchestrator.attempt.duration",
        "orchestrator.job.queue_wait",
        "orchestrator.job.duration",
    };

    [Theory]
    [MemberData(nameof(SecondsHistograms))]
    public void SecondsHistogram_ExportedWithSecondsBuckets_ShortLatenciesInBucketsOfTheirOwn(string instrument)
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var metrics = new OrchestratorMetrics(services.GetRequiredService<IMeterFactory>());
        var exporter = new HistogramCapture();
        using (var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(OrchestratorTelemetry.MeterName)
            .AddReader(new BaseExportingMetricReader(exporter))
            .Build())
        {
            // Other tests in this process record on the same meter name: this run's points carry a tag of their own.
            var run = new KeyValuePair<string, object?>("test.run", Guid.NewGuid().ToString("N"));
            var histogram = instrument switch
            {
                "orchestrator.attempt.duration" => metrics.AttemptDuration,
                "orchestrator.job.queue_wait" => metrics.QueueWait,
                _ => metrics.EndToEnd,
            };
            foreach (var seconds in new[] { 0.03, 0.2, 1.5, 40 })
            {
                histogram.Record(seconds, run);
            }

            provider.ForceFlush();
            var buckets = exporter.Buckets(instrument, (string)run.Value!);

            Assert.Equal([.. OrchestratorMetrics.SecondsBuckets, double.PositiveInfinity], buckets.Select(b => b.UpperBound));
            Assert.Equal([0.05, 0.25, 2.5, 60], buckets.Where(b => b.Count > 0).Select(b => b.UpperBound));
            Assert.All(buckets.Where(b => b.Count > 0), b => Assert.Equal(1, b.Count));
        }
    }

    /// <summary>Keeps the buckets of every exported histogram point, by instrument and run tag.</summary>
    private sealed class HistogramCapture : BaseExporter<Metric>
    {
        private readonly Dictionary<(string Instrument, string Run), List<(double UpperBound, long Count)>> _buckets = [];

        public IReadOnlyList<(double UpperBound, long Count)> Buckets(string instrument, string run) =>
            _buckets.TryGetValue((instrument, run), out var buckets) ? buckets : [];

        public override ExportResult Export(in Batch<Metric> batch)
        {
            foreach (var metric in batch)
            {
                if (metric.MetricType != MetricType.Histogram)
                {
                    continue;
                }

                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    string? run = null;
                    foreach (var tag in point.Tags)
                    {
                        run = tag.Key == "test.run" ? tag.Value as string : run;
                    }

                    if (run is null)
                    {
                        continue;
                    }

                    var buckets = new List<(double, long)>();
                    foreach (var bucket in point.GetHistogramBuckets())
                    {
                        buckets.Add((bucket.ExplicitBound, bucket.BucketCount));
                    }

                    _buckets[(metric.Name, run)] = buckets;
                }
            }

            return ExportResult.Success;
        }
    }
}
