using Orchestrator.Chaos;

ChaosOptions options;
try
{
    if (args.Contains("--help") || args.Contains("-h"))
    {
        Console.WriteLine(ChaosOptions.Usage);
        return 0;
    }

    options = ChaosOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(ChaosOptions.Usage);
    return 2;
}

return await new ChaosRun(options, TimeProvider.System).RunAsync();
