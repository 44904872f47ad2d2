using Lumen.Inference;
using Lumen.Tests.Support;

namespace Lumen.Tests;

/// <summary>
/// <c>lumen export --csharp</c>: what it writes. That the projects build and run against the package
/// is checked by .ci/package-check, which needs the packed package.
/// </summary>
public class ConsumptionCodeTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void WritesAConsoleProgramAndAWebEndpointWithTheModel()
    {
        using var dir = new TempFolder();
        string model = TinyModel.Save(dir.File("model.lumen"), new[] { "cat", "dog" });
        var written = ConsumptionCode.Write(model, dir.File("code"), "1.2.3");
        foreach (string project in new[] { "console", "web" })
        {
            Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(dir.File("code", project, "model.lumen")));
            string csproj = File.ReadAllText(Directory.GetFiles(dir.File("code", project), "*.csproj").Single());
            Assert.Contains("<PackageReference Include=\"Lumen\" Version=\"1.2.3\" />", csproj);
            Assert.Contains($"<PackageReference Include=\"TorchSharp-cpu\" Version=\"{ConsumptionCode.TorchSharpVersion}\" />", csproj);
            Assert.Contains("<None Include=\"model.lumen\" CopyToOutputDirectory=\"PreserveNewest\" />", csproj);
            string program = File.ReadAllText(dir.File("code", project, "Program.cs"));
            Assert.Contains("Predictor.Load(Path.Combine(AppContext.BaseDirectory, \"model.lumen\"))", program);
            Assert.Contains("(cat, dog)", program);
        }
        Assert.Contains("app.MapPost(\"/predict\"", File.ReadAllText(dir.File("code", "web", "Program.cs")));
        Assert.Equal(6, written.Count);
        Assert.All(written, f => Assert.True(File.Exists(f), f));
    }

    [Fact]
    public void ANonModelIsRefusedBeforeAnythingIsWritten()
    {
        using var dir = new TempFolder();
        string notModel = dir.Write("notes.lumen", "hello"u8.ToArray());
        Assert.ThrowsAny<LumenException>(() => ConsumptionCode.Write(notModel, dir.File("code"), "1.0.0"));
        Assert.False(Directory.Exists(dir.File("code")));
    }
}
