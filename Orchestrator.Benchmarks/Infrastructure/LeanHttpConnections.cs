namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>A fixed set of <see cref="LeanHttpConnection"/>s to one port, opened up front and closed together.</summary>
internal sealed class LeanHttpConnections(LeanHttpConnection[] connections) : IAsyncDisposable
{
    public IReadOnlyList<LeanHttpConnection> All => connections;

    public static async Task<LeanHttpConnections> OpenAsync(int port, int count) =>
        new(await Task.WhenAll(Enumerable.Range(0, count).Select(_ => LeanHttpConnection.OpenAsync(port))));

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }
}
