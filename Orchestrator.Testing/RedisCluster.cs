using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace Orchestrator.Testing;

/// <summary>How a <see cref="RedisCluster"/> is started.</summary>
public sealed record RedisClusterOptions
{
    /// <summary>How many masters share the 16,384 slots. Default 3 (the fewest <c>redis-cli --cluster create</c> accepts).</summary>
    public int Masters { get; init; } = 3;

    /// <summary>How many replicas each master gets. Default 0.</summary>
    public int ReplicasPerMaster { get; init; }

    /// <summary>
    /// <c>cluster-node-timeout</c>: how long a master may be unreachable before the others mark it
    /// failed and its replica is elected. Default 5 s (Redis's own default is 15 s).
    /// </summary>
    public TimeSpan NodeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Keep append-only files (<c>appendfsync everysec</c>), as the AppHost's cluster does. Default <see langword="true"/>.</summary>
    public bool AppendOnly { get; init; } = true;

    /// <summary>A folder each node's output is appended to (<c>redis-{port}.log</c>); none if not given.</summary>
    public string? LogFolder { get; init; }

    /// <summary>Further configuration directives for every node, as <see cref="RedisServerOptions.Config"/>.</summary>
    public IReadOnlyDictionary<string, string> Config { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// A real Redis Cluster on loopback: <see cref="RedisClusterOptions.Masters"/> masters and their
/// replicas, each a <see cref="RedisServer"/> with <c>--cluster-enabled yes</c> and its own
/// <c>nodes.conf</c>, formed by <c>redis-cli --cluster create</c>. Started, it is healthy:
/// <c>cluster_state:ok</c> on every node, every slot covered, every replica attached. Find the master
/// of a key's slot, kill it (SIGKILL) and wait for its replica to take over. Disposing kills every node.
/// </summary>
/// <remarks>Needs <c>redis-server</c> and <c>redis-cli</c> (7.0 or later) on PATH.</remarks>
public sealed class RedisCluster : IAsyncDisposable
{
    /// <summary>The longest wait for the cluster to form, or for a failover to complete, unless a caller asks for another.</summary>
    public static readonly TimeSpan FormTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The number of hash slots of every Redis Cluster.</summary>
    public const int SlotCount = 16384;

    private readonly List<RedisServer> _nodes;
    private ConnectionMultiplexer? _admin;

    private RedisCluster(List<RedisServer> nodes, RedisClusterOptions options)
    {
        _nodes = nodes;
        Options = options;
    }

    /// <summary>The options the cluster was started with.</summary>
    public RedisClusterOptions Options { get; }

    /// <summary>Every node, masters first (as they were formed; a failover changes roles, not this order).</summary>
    public IReadOnlyList<RedisServer> Nodes => _nodes;

    /// <summary>The nodes whose process runs.</summary>
    public IEnumerable<RedisServer> RunningNodes => _nodes.Where(n => n.IsRunning);

    /// <summary>A StackExchange.Redis connection string listing every node (<c>127.0.0.1:p1,127.0.0.1:p2,…</c>).</summary>
    public string ConnectionString => string.Join(',', _nodes.Select(n => n.ConnectionString));

    /// <summary>
    /// Starts the nodes, forms the cluster (<c>redis-cli --cluster create … --cluster-replicas R --cluster-yes</c>)
    /// and waits until it is healthy.
    /// </summary>
    public static async Task<RedisCluster> StartAsync(RedisClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new RedisClusterOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Masters, 3);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ReplicasPerMaster);

        var nodes = new List<RedisServer>();
        var cluster = new RedisCluster(nodes, options);
        try
        {
            var started = new RedisServer?[options.Masters * (1 + options.ReplicasPerMaster)];
            try
            {
                await Task.WhenAll(started.Select(async (_, i) => started[i] = await StartNodeAsync(options, cancellationToken)));
            }
            finally
            {
                // In order (the first ones become masters); on a failure, the ones started, to be stopped.
                nodes.AddRange(started.OfType<RedisServer>());
            }

            await cluster.CreateAsync(cancellationToken);
            cluster._admin = await ConnectionMultiplexer.ConnectAsync(cluster.AdminConnectionString()).WaitAsync(FormTimeout, cancellationToken);
            await cluster.WaitUntilHealthyAsync(FormTimeout, cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a node on a free port whose bus port (+10,000) is free too. Both are checked before the
    /// start, but the bus port lies in the range the OS hands out to outgoing connections, and one took it
    /// in between in a CI run (the node exited: "Address already in use"): then another pair is tried.
    /// </summary>
    private static async Task<RedisServer> StartNodeAsync(RedisClusterOptions options, CancellationToken cancellationToken)
    {
        for (var tries = 1; ; tries++)
        {
            var node = RedisServer.Create(NodeOptions(options));
            try
            {
                await node.StartAsync(cancellationToken);
                return node;
            }
            catch (InvalidOperationException e) when (tries < 3 && e.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                await node.DisposeAsync();
            }
            catch
            {
                await node.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>A StackExchange.Redis connection to the cluster; <paramref name="options"/> are appended to the connection string.</summary>
    public Task<ConnectionMultiplexer> ConnectAsync(string? options = null) =>
        ConnectionMultiplexer.ConnectAsync(options is null ? ConnectionString : $"{ConnectionString},{options}");

    /// <summary>The slot of <paramref name="key"/> (CRC16 of its hash tag, as every node computes it).</summary>
    public int SlotOf(RedisKey key) => Admin.HashSlot(key);

    /// <summary>The running node that is master of <paramref name="key"/>'s slot, as the running nodes report it now.</summary>
    public async Task<RedisServer> MasterOfAsync(RedisKey key) =>
        await FindMasterAsync(SlotOf(key)) ?? throw new InvalidOperationException($"No running node is master of slot {SlotOf(key)}.");

    /// <summary>The masters, as the running nodes report them now (in <see cref="Nodes"/> order).</summary>
    public async Task<IReadOnlyList<RedisServer>> MastersAsync()
    {
        var masters = new List<RedisServer>();
        foreach (var node in RunningNodes)
        {
            if (await RoleAsync(node) == "master")
            {
                masters.Add(node);
            }
        }

        return masters;
    }

    /// <summary>The running nodes that replicate <paramref name="master"/>, as it reports them now.</summary>
    public async Task<IReadOnlyList<RedisServer>> ReplicasOfAsync(RedisServer master)
    {
        var lines = await NodesLinesAsync(master) ?? throw new InvalidOperationException($"The node on port {master.Port} does not answer.");
        var masterId = lines.Single(l => l.Flags.Contains("myself", StringComparer.Ordinal)).Id;
        var ports = lines.Where(l => l.MasterId == masterId).Select(l => PortOf(l.Address)).ToHashSet();
        return [.. RunningNodes.Where(n => ports.Contains(n.Port))];
    }

    /// <summary>Kills <paramref name="node"/> (SIGKILL), as a crash would: whatever it had not replicated is gone.</summary>
    public Task KillAsync(RedisServer node) => node.KillAsync();

    /// <summary>
    /// Waits until a running node other than <paramref name="formerMaster"/> is master of
    /// <paramref name="key"/>'s slot (its replica was elected) and the cluster is healthy again
    /// (<c>cluster_state:ok</c> on every running node); returns the new master.
    /// </summary>
    public async Task<RedisServer> WaitForFailoverAsync(RedisKey key, RedisServer formerMaster, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var slot = SlotOf(key);
        RedisServer? promoted = null;
        await WaitAsync(async () =>
        {
            promoted = await FindMasterAsync(slot);
            return promoted is not null && promoted != formerMaster && await AllRunningNodesOkAsync();
        }, timeout ?? FormTimeout, $"a replica of the node on port {formerMaster.Port} was master of slot {slot}", cancellationToken);
        return promoted!;
    }

    /// <summary>
    /// Waits until every running node says <c>cluster_state:ok</c> with all slots assigned and
    /// every master has its <see cref="RedisClusterOptions.ReplicasPerMaster"/> replicas attached
    /// (replication link up).
    /// </summary>
    public Task WaitUntilHealthyAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        WaitAsync(async () => await AllRunningNodesOkAsync() && await ReplicasAttachedAsync(),
            timeout ?? FormTimeout, "the cluster was healthy", cancellationToken);

    /// <summary>
    /// Places the slot of each of <paramref name="keys"/> on master <c>i mod M</c> (key i; the
    /// masters in <see cref="Nodes"/> order), moving a slot that is elsewhere by the migration
    /// protocol (<c>CLUSTER SETSLOT … IMPORTING/MIGRATING/NODE</c>). Only empty slots are moved: run
    /// it before the keys are written. Hash tags decide slots, and <c>--cluster create</c> gives each
    /// master one range, so a few tags (a job system's partitions, <c>{orch:0}</c> …) can all fall
    /// in one master's range; placing them spreads the partitions evenly over the masters.
    /// </summary>
    public async Task PlaceSlotsAsync(IReadOnlyList<RedisKey> keys, CancellationToken cancellationToken = default)
    {
        var masters = await MastersAsync();
        var ids = new Dictionary<RedisServer, string>();
        foreach (var master in masters)
        {
            ids[master] = await RequireAsync(master, "CLUSTER", "MYID");
        }

        for (var i = 0; i < keys.Count; i++)
        {
            var slot = SlotOf(keys[i]);
            var target = masters[i % masters.Count];
            var source = await FindMasterAsync(slot) ?? throw new InvalidOperationException($"No master serves slot {slot}.");
            if (source == target)
            {
                continue;
            }

            if (await RequireAsync(source, "CLUSTER", "COUNTKEYSINSLOT", slot) != "0")
            {
                throw new InvalidOperationException($"Slot {slot} holds keys: only an empty slot is placed.");
            }

            // The order the Redis Cluster specification gives for the end of a migration: the target
            // first (it takes the slot and bumps its epoch), then the source, then every other master.
            await RequireAsync(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source]);
            await RequireAsync(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target]);
            await RequireAsync(target, "CLUSTER", "SETSLOT", slot, "NODE", ids[target]);
            await RequireAsync(source, "CLUSTER", "SETSLOT", slot, "NODE", ids[target]);
            foreach (var other in masters.Where(m => m != source && m != target))
            {
                await RequireAsync(other, "CLUSTER", "SETSLOT", slot, "NODE", ids[target]);
            }

            await WaitAsync(async () => await EveryRunningNodeSeesAsync(slot, ids[target]), FormTimeout,
                $"every node saw slot {slot} on the node on port {target.Port}", cancellationToken);
        }

        await WaitUntilHealthyAsync(FormTimeout, cancellationToken);
    }

    /// <summary>
    /// Begins moving the slot of <paramref name="key"/> to <paramref name="target"/> as
    /// <c>redis-cli --cluster reshard</c> does (<c>CLUSTER SETSLOT … IMPORTING/MIGRATING</c>, then
    /// <c>MIGRATE</c> key by key), leaving the order of its keys to the caller: Redis moves them in
    /// no order it promises, and a script met half-way sees some keys on each node.
    /// </summary>
    public async Task<SlotMove> BeginSlotMoveAsync(RedisKey key, RedisServer target)
    {
        var slot = SlotOf(key);
        var source = await FindMasterAsync(slot) ?? throw new InvalidOperationException($"No master serves slot {slot}.");
        if (source == target)
        {
            throw new InvalidOperationException($"Slot {slot} is on the node on port {target.Port} already.");
        }

        var sourceId = await RequireAsync(source, "CLUSTER", "MYID");
        var targetId = await RequireAsync(target, "CLUSTER", "MYID");
        await RequireAsync(target, "CLUSTER", "SETSLOT", slot, "IMPORTING", sourceId);
        await RequireAsync(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", targetId);
        return new SlotMove(this, slot, source, target, targetId);
    }

    /// <summary>A slot being moved (<see cref="BeginSlotMoveAsync"/>): its keys moved as the caller says, then the move ended.</summary>
    public sealed class SlotMove(RedisCluster cluster, int slot, RedisServer source, RedisServer target, string targetId)
    {
        /// <summary>Moves <paramref name="keys"/> (those still on the source) to the target, in one <c>MIGRATE</c>.</summary>
        public Task MoveKeysAsync(IReadOnlyList<RedisKey> keys) =>
            cluster.RequireAsync(source, "MIGRATE", ["127.0.0.1", target.Port, "", 0, 5000, "KEYS", .. keys.Select(k => (object)(string)k!)]);

        /// <summary>Moves every key left in the slot, a page at a time, and gives the slot to the target on every master.</summary>
        public async Task EndAsync()
        {
            var server = cluster.Admin.GetServer(new IPEndPoint(IPAddress.Loopback, source.Port));
            while (true)
            {
                var left = (RedisResult[])(await server.ExecuteAsync("CLUSTER", "GETKEYSINSLOT", slot, 100).WaitAsync(TimeSpan.FromSeconds(3)))!;
                if (left.Length == 0)
                {
                    break;
                }

                await MoveKeysAsync([.. left.Select(k => (RedisKey)(string)k!)]);
            }

            await cluster.RequireAsync(target, "CLUSTER", "SETSLOT", slot, "NODE", targetId);
            await cluster.RequireAsync(source, "CLUSTER", "SETSLOT", slot, "NODE", targetId);
            foreach (var other in (await cluster.MastersAsync()).Where(m => m != source && m != target))
            {
                await cluster.RequireAsync(other, "CLUSTER", "SETSLOT", slot, "NODE", targetId);
            }

            await cluster.WaitAsync(async () => await cluster.EveryRunningNodeSeesAsync(slot, targetId), FormTimeout,
                $"every node saw slot {slot} on the node on port {target.Port}", CancellationToken.None);
        }
    }

    private async Task<bool> EveryRunningNodeSeesAsync(int slot, string ownerId)
    {
        foreach (var node in RunningNodes)
        {
            var owner = (await NodesLinesAsync(node))?.FirstOrDefault(l => l.Id == ownerId);
            if (owner is null || !owner.Value.Slots.Any(part => !part.StartsWith('[') && Covers(part, slot)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Covers(string part, int slot)
    {
        var dash = part.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? int.Parse(part, CultureInfo.InvariantCulture) == slot
            : int.Parse(part[..dash], CultureInfo.InvariantCulture) <= slot && slot <= int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture);
    }

    // One command on one node that must succeed.
    private async Task<string> RequireAsync(RedisServer node, string command, params object[] arguments)
    {
        var server = Admin.GetServer(new IPEndPoint(IPAddress.Loopback, node.Port));
        return (string?)await server.ExecuteAsync(command, arguments).WaitAsync(TimeSpan.FromSeconds(3))
            ?? throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} answered nothing on port {node.Port}.");
    }

    /// <summary>Kills every node and deletes their data folders.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        await Task.WhenAll(_nodes.Select(n => n.DisposeAsync().AsTask()));
    }

    private ConnectionMultiplexer Admin => _admin ?? throw new InvalidOperationException("The cluster is not formed yet.");

    private static RedisServerOptions NodeOptions(RedisClusterOptions options)
    {
        var port = LoopbackPort.NextWithPartner(10_000);
        var config = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["cluster-enabled"] = "yes",
            // Relative to the node's own --dir, so every node has its own.
            ["cluster-config-file"] = "nodes.conf",
            ["cluster-node-timeout"] = ((long)options.NodeTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (name, value) in options.Config)
        {
            config[name] = value;
        }

        return new RedisServerOptions
        {
            Port = port,
            AppendOnly = options.AppendOnly,
            Config = config,
            // Elections, failovers and role changes are logged at notice: a failed wait shows them.
            LogLevel = "notice",
            LogPath = options.LogFolder is null ? null : Path.Combine(options.LogFolder, $"redis-{port.ToString(CultureInfo.InvariantCulture)}.log"),
        };
    }

    private string AdminConnectionString() => $"{ConnectionString},allowAdmin=true,abortConnect=false,connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000";

    private async Task CreateAsync(CancellationToken cancellationToken)
    {
        // The first Masters addresses become masters; redis-cli attaches the others as their replicas
        // (it warns that a replica shares its master's host: on loopback they all do).
        List<string> arguments = ["--cluster", "create", .. _nodes.Select(n => n.ConnectionString),
            "--cluster-replicas", Options.ReplicasPerMaster.ToString(CultureInfo.InvariantCulture), "--cluster-yes"];
        await using var create = ChildProcess.Start(new ChildProcessOptions { Name = "redis-cli --cluster create", FileName = "redis-cli", Arguments = arguments });
        if (!await create.WaitForExitAsync(FormTimeout, cancellationToken))
        {
            throw new TimeoutException($"redis-cli --cluster create did not finish within {FormTimeout}.{Environment.NewLine}{create.Tail()}");
        }

        if (create.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create exited with code {create.ExitCode}:{Environment.NewLine}{create.Tail()}");
        }
    }

    private async Task<RedisServer?> FindMasterAsync(int slot)
    {
        foreach (var node in RunningNodes)
        {
            if (await SlotRangesAsync(node) is { } ranges && ranges.Any(r => r.From <= slot && slot <= r.To))
            {
                return node;
            }
        }

        return null;
    }

    // A node's own view of its role and slots, from CLUSTER NODES (the "myself" line): the client's
    // cached map may be stale right after a failover.
    private async Task<List<(int From, int To)>?> SlotRangesAsync(RedisServer node)
    {
        var myself = (await NodesLinesAsync(node))?.FirstOrDefault(l => l.Flags.Contains("myself", StringComparer.Ordinal));
        if (myself is null || !myself.Value.Flags.Contains("master", StringComparer.Ordinal))
        {
            return null;
        }

        var ranges = new List<(int From, int To)>();
        foreach (var part in myself.Value.Slots)
        {
            if (part.StartsWith('['))
            {
                continue; // a slot being migrated or imported
            }

            var dash = part.IndexOf('-', StringComparison.Ordinal);
            ranges.Add(dash < 0
                ? (int.Parse(part, CultureInfo.InvariantCulture), int.Parse(part, CultureInfo.InvariantCulture))
                : (int.Parse(part[..dash], CultureInfo.InvariantCulture), int.Parse(part[(dash + 1)..], CultureInfo.InvariantCulture)));
        }

        return ranges;
    }

    private async Task<string?> RoleAsync(RedisServer node) =>
        (await NodesLinesAsync(node))?.FirstOrDefault(l => l.Flags.Contains("myself", StringComparer.Ordinal)) is { } myself
            ? myself.Flags.Contains("master", StringComparer.Ordinal) ? "master" : "replica"
            : null;

    // "127.0.0.1:7000@17000" → 7000
    private static int PortOf(string address) =>
        int.Parse(address[(address.LastIndexOf(':') + 1)..].Split('@')[0], CultureInfo.InvariantCulture);

    private async Task<List<(string Id, string Address, string[] Flags, string MasterId, string LinkState, string[] Slots)>?> NodesLinesAsync(RedisServer node)
    {
        var text = await CommandAsync(node, "CLUSTER", "NODES");
        if (text is null)
        {
            return null;
        }

        // <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot> <slot> ...
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => line.Split(' '))
            .Where(parts => parts.Length >= 8)
            .Select(parts => (parts[0], parts[1], parts[2].Split(','), parts[3], parts[7], parts[8..]))];
    }

    private async Task<bool> AllRunningNodesOkAsync()
    {
        foreach (var node in RunningNodes)
        {
            var info = await CommandAsync(node, "CLUSTER", "INFO");
            if (info is null
                || !info.Contains("cluster_state:ok", StringComparison.Ordinal)
                || !info.Contains($"cluster_slots_assigned:{SlotCount.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal)
                || !info.Contains($"cluster_slots_ok:{SlotCount.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    // Only checked while every node runs: after a failover the new master has lost its replica for good.
    private async Task<bool> ReplicasAttachedAsync()
    {
        if (RunningNodes.Count() < _nodes.Count)
        {
            return true;
        }

        foreach (var master in await MastersAsync())
        {
            var info = await CommandAsync(master, "INFO", "replication");
            var online = info?.Split('\n').Count(l => l.StartsWith("slave", StringComparison.Ordinal) && l.Contains("state=online", StringComparison.Ordinal)) ?? 0;
            if (online < Options.ReplicasPerMaster)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Each node's view of the cluster and the end of its log: why a failover or a join did not
    /// happen (an election refused, a replica's data too old) is only in the nodes' own logs.
    /// </summary>
    private async Task<string> DescribeAsync()
    {
        var text = new System.Text.StringBuilder();
        foreach (var node in _nodes)
        {
            var view = node.IsRunning ? await CommandAsync(node, "CLUSTER", "NODES") ?? "(no answer)" : "(not running)";
            text.AppendLine(CultureInfo.InvariantCulture, $"--- node {node.Port}: CLUSTER NODES ---").AppendLine(view.TrimEnd());
            text.AppendLine(CultureInfo.InvariantCulture, $"--- node {node.Port}: log, last part ---").AppendLine(node.Tail(1_500).TrimEnd());
        }

        return text.ToString();
    }

    /// <summary>One command on one node; null when the node does not answer (killed, paused, not started).</summary>
    private async Task<string?> CommandAsync(RedisServer node, string command, params object[] arguments)
    {
        try
        {
            var server = Admin.GetServer(new IPEndPoint(IPAddress.Loopback, node.Port));
            return (string?)await server.ExecuteAsync(command, arguments).WaitAsync(TimeSpan.FromSeconds(3));
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ArgumentException)
        {
            return null;
        }
    }

    private Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string because, CancellationToken cancellationToken) =>
        AsyncWait.UntilAsync(condition, timeout, because, DescribeAsync, cancellationToken);
}
