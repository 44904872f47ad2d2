using Lumen.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Lumen.Cli;

/// <summary>The <c>lumen</c> command: a thin host that parses arguments and calls the library.</summary>
public static class Program
{
    /// <summary>Runs the command line; returns the process exit code (0 ok, 1 user error, 2 bug).</summary>
    public static int Main(string[] args)
    {
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("lumen");
            config.PropagateExceptions();
            config.AddCommand<DataCommand>("data")
                .WithDescription("Show classes, counts per split and the data audit (unreadable files, duplicates, leakage, imbalance)")
                .WithExample("data", "../shared/data/brain-mri-dev");
            config.AddCommand<ModelsCommand>("models")
                .WithDescription("List the architectures with parameter counts and the pretrained weights available");
            config.AddCommand<ShowBatchCommand>("show-batch")
                .WithDescription("Write a PNG grid of a (augmented) batch with its labels")
                .WithExample("show-batch", "photos", "--out", "batch.png", "--aug", "endoscopy");
        });
        try
        {
            return app.Run(args);
        }
        catch (Exception e) when (e is LumenException or CommandParseException or CommandRuntimeException)
        {
            Console.Error.WriteLine($"lumen: error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("LUMEN_DEBUG") != "1")
        {
            Console.Error.WriteLine($"lumen: unexpected error ({e.GetType().Name}): {e.Message}");
            Console.Error.WriteLine("lumen: set LUMEN_DEBUG=1 to see the stack trace, and please report it.");
            return 2;
        }
    }
}
