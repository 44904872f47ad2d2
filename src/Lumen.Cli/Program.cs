using Lumen.Cli.Commands;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Options;

namespace Lumen.Cli;

/// <summary>The <c>lumen</c> command: a thin host that parses arguments and calls the library.</summary>
public static class Program
{
    /// <summary>Lumen's version (the assembly's informational version without the source hash).</summary>
    public static string Version { get; } =
        (typeof(LumenException).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    // Library errors name options as the library does; the CLI names them by their flags.
    private static string UserMessage(Exception e) => e is OptionException option ? OptionFlags.Message(option) : e.Message;

    /// <summary>
    /// What a user sees of a bug: the exception's type and first line (LibTorch's errors append the
    /// C++ source location and a dozen native frames to the message), and where to get the rest.
    /// </summary>
    internal static string UnexpectedErrorText(Exception e)
    {
        string firstLine = e.Message.Split('\n', 2)[0].TrimEnd('\r', ' ');
        return $"lumen: unexpected error ({e.GetType().Name}): {firstLine}\n"
            + "lumen: set LUMEN_DEBUG=1 to see the stack trace, and please report it.\n";
    }

    /// <summary>Runs the command line; returns the process exit code (0 ok, 1 user error, 2 bug).</summary>
    public static int Main(string[] args)
    {
        // Logs and CI capture output: do not wrap tables at 80 columns there.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 200;
        var app = new CommandApp();
        app.Configure(config =>
        {
            config.SetApplicationName("lumen");
            config.SetApplicationVersion(Version);
            config.PropagateExceptions();
            config.AddCommand<DataCommand>("data")
                .WithDescription("Show classes, counts per split and the data audit (unreadable files, duplicates, leakage, imbalance)")
                .WithExample("data", "brain-mri-sample");
            config.AddCommand<TrainCommand>("train")
                .WithDescription("Fine-tune a pretrained model on a folder of images; writes model.lumen, history and plots into --out")
                .WithExample("train", "samples/brain-mri", "--out", "runs/mri");
            config.AddCommand<CvCommand>("cv")
                .WithDescription("Cross-validate the train recipe: train it on each of k stratified folds, report per-fold and mean ± sd of the task's metrics (accuracy, macro-F1, MCC for single-label data)")
                .WithExample("cv", "samples/brain-mri", "--folds", "5");
            config.AddCommand<LrFindCommand>("lr-find")
                .WithDescription("Run the learning-rate finder and plot loss against learning rate");
            config.AddCommand<PredictCommand>("predict")
                .WithDescription("Classify an image or a folder of images with a .lumen model")
                .WithExample("predict", "lumen-out/model.lumen", "photo.jpg");
            config.AddCommand<EvaluateCommand>("evaluate")
                .WithDescription("Metrics and confusion matrix of a .lumen model on a labelled folder");
            config.AddCommand<ServeCommand>("serve")
                .WithDescription("Serve a .lumen model: an upload page at / and a JSON API at /api/predict")
                .WithExample("serve", "lumen-out/model.lumen");
            config.AddCommand<CalibrateCommand>("calibrate")
                .WithDescription("Measure a model's int8 activation ranges on a folder of images and store them in the model file (train does this at export)")
                .WithExample("calibrate", "runs/mri/model.lumen", "samples/brain-mri");
            config.AddCommand<HealthCommand>("health")
                .WithDescription("Ask a running Lumen service for its health (exit 0 when it answers 200): the container HEALTHCHECK")
                .WithExample("health", "http://127.0.0.1:5000/readyz");
            config.AddCommand<ExportCommand>("export")
                .WithDescription("Export a .lumen model to ONNX (--onnx model.onnx) or as C# code that uses it (--csharp folder)");
            config.AddCommand<InterpretCommand>("interpret")
                .WithDescription("Confusion matrix, most confused, top losses (Grad-CAM), calibration, metrics.json and report.html for a model on a labelled folder");
            config.AddCommand<InterpretCommand>("report")
                .WithDescription("Same as interpret: writes report.html (and the figures) for a model on a labelled folder");
            config.AddBranch("datasets", datasets =>
            {
                datasets.SetDescription("Known datasets by name (kvasir-v1, kvasir-v2, hyper-kvasir-labeled, oxford-pets): list, download, import");
                datasets.SetDefaultCommand<DatasetsListCommand>();
                datasets.AddCommand<DatasetsListCommand>("list").WithDescription("The catalogue and what is cached");
                datasets.AddCommand<DatasetsGetCommand>("get").WithDescription("Download (resuming), verify and extract a dataset");
                datasets.AddCommand<DatasetsAddCommand>("add").WithDescription("Import an archive downloaded elsewhere");
            });
            config.AddCommand<ModelsCommand>("models")
                .WithDescription("List the architectures with parameter counts and the pretrained weights available");
            config.AddCommand<ShowBatchCommand>("show-batch")
                .WithDescription("Write a PNG grid of a (augmented) batch with its labels")
                .WithExample("show-batch", "photos", "--out", "batch.png", "--aug", "endoscopy");
        });
        try
        {
            int code = app.Run(args);
            Cluster.Finish();
            return code;
        }
        catch (Exception e) when (e is LumenException or CommandParseException or CommandRuntimeException)
        {
            Console.Error.WriteLine($"lumen: error: {UserMessage(e)}");
            Cluster.AbortOnError(1);
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("LUMEN_DEBUG") != "1")
        {
            Console.Error.Write(UnexpectedErrorText(e));
            Cluster.AbortOnError(2);
            return 2;
        }
    }
}
