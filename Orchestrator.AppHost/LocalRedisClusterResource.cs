using System.Globalization;
using Aspire.Hosting.ApplicationModel;

namespace Orchestrator.AppHost;

/// <summary>
/// The one-shot step that forms a local Redis Cluster (<c>redis-cli --cluster create</c>) and then
/// exits; to the services it is the cluster: <c>.WithReference(cluster)</c> injects
/// <c>ConnectionStrings__redis</c> listing every node, and the services wait for its completion
/// (<see cref="LocalRedisClusterResourceBuilderExtensions.WaitForRedis"/>).
/// </summary>
public sealed class LocalRedisClusterResource(string name, string workingDirectory, IReadOnlyList<int> ports)
    : ExecutableResource(name, "/bin/sh", workingDirectory), IResourceWithConnectionString
{
    /// <summary>The nodes' ports, masters first.</summary>
    public IReadOnlyList<int> Ports { get; } = ports;

    /// <inheritdoc />
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{string.Join(',', Ports.Select(p => "localhost:" + p.ToString(CultureInfo.InvariantCulture)))}");
}

/// <summary>Adds a local Redis Cluster (<see cref="LocalRedisClusterResource"/> and its nodes) to the application model.</summary>
public static class LocalRedisClusterResourceBuilderExtensions
{
    /// <summary>
    /// Starts <paramref name="masters"/> masters and as many replicas as local <c>redis-server</c>
    /// processes (each its own resource on the dashboard, <c>{name}-node-{i}</c>, on port
    /// <paramref name="firstPort"/> + i, with <c>--cluster-enabled yes</c>, its <c>nodes.conf</c>
    /// and append-only file in <paramref name="dataPath"/>/node-i), and a one-shot resource that
    /// forms them into a cluster with one replica per master. The ports are fixed because each
    /// node's <c>nodes.conf</c> records its peers' addresses: on a restart with those files the
    /// nodes find each other again, re-form the cluster by themselves, and the step only waits for
    /// <c>cluster_state:ok</c>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The name of the forming step, also the connection string name.</param>
    /// <param name="dataPath">The folder holding one sub-folder per node; created if missing.</param>
    /// <param name="firstPort">The first node's port; the others follow it.</param>
    /// <param name="maxMemory">Each node's <c>maxmemory</c> (with <c>noeviction</c>).</param>
    /// <param name="nodeTimeout">The <c>cluster-node-timeout</c>: how long a master may be unreachable before its replica is elected.</param>
    /// <param name="masters">How many masters (at least 3).</param>
    /// <param name="partitions">
    /// <c>Jobs:Partitions</c>: when a new cluster is formed, the slot of each partition's tag
    /// (<c>{orch:p}</c>) is placed on master p mod <paramref name="masters"/>, so the partitions are
    /// spread evenly (the ranges <c>--cluster create</c> gives would put four of six on one master).
    /// </param>
    public static IResourceBuilder<LocalRedisClusterResource> AddLocalRedisCluster(
        this IDistributedApplicationBuilder builder, [ResourceName] string name, string dataPath, int firstPort,
        string maxMemory, TimeSpan nodeTimeout, int masters = 3, int partitions = 1)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfLessThan(masters, 3);
        if (LocalRedisResourceBuilderExtensions.FindOnPath("redis-cli") is null)
        {
            throw new DistributedApplicationException(
                "Redis:Mode is 'cluster' but 'redis-cli' was not found on PATH. Install it ('sudo apt-get install redis-tools').");
        }

        var ports = Enumerable.Range(firstPort, masters * 2).ToList();
        var nodes = ports.Select((port, i) =>
            builder.AddLocalRedis($"{name}-node-{i.ToString(CultureInfo.InvariantCulture)}",
                    Path.Combine(dataPath, $"node-{i.ToString(CultureInfo.InvariantCulture)}"), port, maxMemory)
                .WithArgs(
                    "--cluster-enabled", "yes",
                    // Relative to the node's --dir: each node keeps its own.
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", ((long)nodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)))
            .ToList();

        Directory.CreateDirectory(dataPath);
        var cluster = new LocalRedisClusterResource(name, dataPath, ports);
        var create = builder.AddResource(cluster)
            .WithArgs("-c", FormScript(ports, masters, partitions))
            .WithIconName("DatabaseMultiple");
        foreach (var node in nodes)
        {
            // Started, not healthy: a node's Redis health check wants cluster_state:ok, which only
            // this step brings about. The script waits for each node's PING itself.
            create.WaitForStart(node);
        }

        return create;
    }

    /// <summary>
    /// Waits for Redis before the service starts: for the forming step to complete when Redis is a
    /// local cluster (it exits once the cluster is up), for Redis to be healthy otherwise.
    /// </summary>
    public static IResourceBuilder<T> WaitForRedis<T>(this IResourceBuilder<T> builder, IResourceBuilder<IResourceWithConnectionString> redis)
        where T : IResourceWithWaitSupport =>
        redis.Resource is LocalRedisClusterResource cluster
            ? builder.WaitForCompletion(builder.ApplicationBuilder.CreateResourceBuilder(cluster))
            : builder.WaitFor(redis);

    // Forms the cluster unless its first node already knows the others (a restart with nodes.conf
    // files: the nodes re-form it by themselves), then waits until every slot is served. A failure
    // exits non-zero, so the services waiting for this step do not start.
    private static string FormScript(IReadOnlyList<int> ports, int masters, int partitions)
    {
        var first = ports[0].ToString(CultureInfo.InvariantCulture);
        var addresses = string.Join(' ', ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)));
        return $"""
            set -e
            for port in {string.Join(' ', ports.Select(p => p.ToString(CultureInfo.InvariantCulture)))}; do
              for i in $(seq 1 120); do
                if [ "$(redis-cli -p $port ping 2>/dev/null)" = "PONG" ]; then break; fi
                sleep 0.5
              done
            done
            known=$(redis-cli -p {first} cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
            if [ "$known" = "1" ]; then
              redis-cli --cluster create {addresses} --cluster-replicas 1 --cluster-yes
            {(partitions > 1 ? PlaceScript(ports[0], masters, partitions) : string.Empty)}
            else
              echo "cluster already formed ($known nodes known): waiting for it to be ready"
            fi
            for i in $(seq 1 120); do
              if redis-cli -p {first} cluster info | grep -q '^cluster_state:ok'; then
                redis-cli -p {first} cluster nodes
                exit 0
              fi
              sleep 0.5
            done
            echo "the cluster was not ready within 60 s" >&2
            exit 1
            """;
    }

    // Jobs:Partitions on a new (empty) cluster: the slot of {orch:p} moves to master p mod M (the
    // masters are the first M ports) by the end of the migration protocol, target first.
    private static string PlaceScript(int firstPort, int masters, int partitions) => $$"""
        sleep 1
        p=0
        while [ $p -lt {{partitions}} ]; do
          slot=$(redis-cli -p {{firstPort}} cluster keyslot "{orch:$p}")
          target=$(({{firstPort}} + p % {{masters}}))
          target_id=$(redis-cli -p $target cluster myid)
          owner=$(redis-cli -p {{firstPort}} cluster nodes | awk -v s=$slot '$3 ~ /master/ { for (i = 9; i <= NF; i++) { n = split($i, r, "-"); if (n == 1) r[2] = r[1]; if (s + 0 >= r[1] + 0 && s + 0 <= r[2] + 0) { split($2, a, "[:@]"); print $1, a[2] } } }')
          owner_id=${owner% *}
          owner_port=${owner#* }
          if [ "$owner_id" != "$target_id" ]; then
            redis-cli -p $target cluster setslot $slot importing $owner_id
            redis-cli -p $owner_port cluster setslot $slot migrating $target_id
            redis-cli -p $target cluster setslot $slot node $target_id
            redis-cli -p $owner_port cluster setslot $slot node $target_id
            m=0
            while [ $m -lt {{masters}} ]; do
              port=$(({{firstPort}} + m))
              if [ $port -ne $target ] && [ $port -ne $owner_port ]; then redis-cli -p $port cluster setslot $slot node $target_id; fi
              m=$((m + 1))
            done
            echo "partition $p: slot $slot moved from port $owner_port to $target"
          fi
          p=$((p + 1))
        done
        """;
}
