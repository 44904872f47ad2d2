using Lumen.Files;
namespace Lumen.Inference;

/// <summary>
/// Writes code that uses a trained model, as ML.NET's Model Builder does: a minimal console program
/// (<c>console/</c>: <c>dotnet run -- image.jpg</c>) and a minimal ASP.NET Core endpoint (<c>web/</c>:
/// <c>POST /predict</c> with the image as the body), each with a copy of the model, referencing the
/// Lumen package and TorchSharp's CPU backend. Both build and run as written.
/// </summary>
public static class ConsumptionCode
{
    /// <summary>The TorchSharp version the generated projects reference (the one Lumen is built against).</summary>
    public const string TorchSharpVersion = "0.107.0";

    /// <summary>Writes <c>console/</c> and <c>web/</c> into <paramref name="folder"/>; returns the files written.</summary>
    /// <param name="modelPath">The .lumen model; it is checked, then copied into both projects.</param>
    /// <param name="folder">Where to write (created; existing files of the same names are replaced).</param>
    /// <param name="lumenVersion">The Lumen package version to reference.</param>
    /// <exception cref="LumenException">The model file is missing or not a Lumen model, or it segments (the generated code classifies).</exception>
    public static IReadOnlyList<string> Write(string modelPath, string folder, string lumenVersion)
    {
        string classes;
        using (var model = ModelFile.Load(modelPath))
        {
            if (model.Info.Task.PerPixel)
                throw new LumenException($"{modelPath} is a segmentation model; the generated projects classify (call Predictor.PredictMask from your code, see docs/segmentation.md)");
            if (model.Info.Task.PerBox)
                throw new LumenException($"{modelPath} is a detection model; the generated projects classify (call Predictor.PredictBoxes from your code, see docs/detection.md)");
            classes = string.Join(", ", model.Info.Classes);
        }
        var written = new List<string>();
        void Put(string relative, string text)
        {
            string path = Path.Combine(folder, relative);
            AtomicFile.WriteAllText(path, text);
            written.Add(path);
        }
        foreach (string project in new[] { "console", "web" })
        {
            string target = Path.Combine(folder, project, "model.lumen");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(modelPath, target + ".tmp", overwrite: true);
            File.Move(target + ".tmp", target, overwrite: true);
            written.Add(target);
        }
        Put("console/Predict.csproj", Project("Microsoft.NET.Sdk", lumenVersion));
        Put("console/Program.cs", $$"""
            // Classifies images with model.lumen ({{classes}}): dotnet run -- image.jpg [more images]
            using Lumen;
            using Lumen.Inference;

            if (args.Length == 0)
            {
                Console.Error.WriteLine("usage: dotnet run -- image.jpg [more images]");
                return 1;
            }
            using var predictor = Predictor.Load(Path.Combine(AppContext.BaseDirectory, "model.lumen"));
            foreach (string image in args)
            {
                try
                {
                    var prediction = predictor.Predict(image);
                    Console.WriteLine($"{image}: {prediction.Label} ({prediction.Probability:P1})");
                }
                catch (LumenException e)
                {
                    Console.Error.WriteLine($"{image}: {e.Message}");
                }
            }
            return 0;

            """);
        Put("web/PredictService.csproj", Project("Microsoft.NET.Sdk.Web", lumenVersion));
        Put("web/Program.cs", $$"""
            // Serves model.lumen ({{classes}}): POST /predict with an image as the request body.
            //   curl --data-binary @image.jpg http://localhost:5000/predict
            using Lumen;
            using Lumen.Inference;

            var builder = WebApplication.CreateBuilder(args);
            builder.Services.AddSingleton(_ => Predictor.Load(Path.Combine(AppContext.BaseDirectory, "model.lumen")));
            builder.Services.AddProblemDetails();
            var app = builder.Build();
            // One prediction at a time: the model uses every core for each batch.
            var gate = new SemaphoreSlim(1);

            app.MapPost("/predict", async (HttpRequest request, Predictor predictor) =>
            {
                using var body = new MemoryStream();
                await request.Body.CopyToAsync(body);
                try
                {
                    var image = predictor.Prepare(body.ToArray(), "the request body");
                    await gate.WaitAsync();
                    try
                    {
                        var prediction = predictor.PredictBatch(new[] { image })[0];
                        return Results.Ok(new { label = prediction.Label, probability = prediction.Probability, probabilities = prediction.Probabilities });
                    }
                    finally
                    {
                        gate.Release();
                    }
                }
                catch (LumenException e)
                {
                    return Results.Problem(e.Message, statusCode: StatusCodes.Status400BadRequest);
                }
            });
            app.Run();

            """);
        return written;
    }

    private static string Project(string sdk, string lumenVersion) => $"""
        <Project Sdk="{sdk}">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>enable</ImplicitUsings>
            <!-- One platform's natives in bin/ (Linux x64); change or remove for another platform. -->
            <RuntimeIdentifier>linux-x64</RuntimeIdentifier>
            <SelfContained>false</SelfContained>
          </PropertyGroup>
          <ItemGroup>
            <PackageReference Include="Lumen" Version="{lumenVersion}" />
            <!-- The backend: CPU; TorchSharp-cuda-linux or TorchSharp-cuda-windows for a GPU. -->
            <PackageReference Include="TorchSharp-cpu" Version="{TorchSharpVersion}" />
          </ItemGroup>
          <ItemGroup>
            <None Include="model.lumen" CopyToOutputDirectory="PreserveNewest" />
          </ItemGroup>
        </Project>

        """;
}
