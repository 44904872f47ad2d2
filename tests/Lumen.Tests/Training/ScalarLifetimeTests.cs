using System.Collections.Immutable;
using Lumen.Analyzers;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>
/// TorchSharp Scalars left to the finalizer thread can be freed while LibTorch reads them (the
/// training crash "For integral input tensors, argument alpha must not be a floating point
/// number"). A thread forcing full collections makes that race likely within a few thousand calls;
/// training under it must not fail (checked in a fresh process), and the analyzer that keeps such Scalars out of src/ must catch
/// a planted one.
/// </summary>
[Collection(nameof(MemoryCollection))]
public class ScalarLifetimeTests
{
    /// <summary>Runs <paramref name="work"/> while another thread collects and finalizes in a loop.</summary>
    private static void UnderForcedCollections(Action work)
    {
        using var stop = new CancellationTokenSource();
        var collector = new Thread(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        }) { IsBackground = true };
        collector.Start();
        try { work(); }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
    }

    // Both run in their own process: a thread collecting in a loop stops every thread of its process
    // at each collection, and would stall all the tests running beside it.
    [Trait("Category", Category.Slow)]
    [Trait("Category", Category.Process)]
    [Fact]
    public void TrainingStepsSurviveForcedCollections() => OwnProcess.Run(TrainUnderForcedCollections);

    [Trait("Category", Category.Slow)]
    [Trait("Category", Category.Process)]
    [Fact]
    public void BatchNormCountsBatchesUnderForcedCollections() => OwnProcess.Run(CountBatchesUnderForcedCollections);

    private static void TrainUnderForcedCollections()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 8, size: 32);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions
        {
            Item = new ItemTransform(32),
            Loader = new LoaderOptions { BatchSize = 4, Workers = 2 },
        });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.Unfreeze();
        // About 20 training steps (BatchNorm counters, residual adds, AdamW) and 5 validation passes
        // with augmentation and metrics; the unfixed code failed within the first epoch or two.
        UnderForcedCollections(() => learner.FitOneCycle(5, 1e-3));
        Assert.Equal(5, learner.History.Count);
        Assert.All(learner.History, epoch => Assert.True(double.IsFinite(epoch.TrainLoss)));
    }

    private static void CountBatchesUnderForcedCollections()
    {
        using var bn = BatchNormLayer.TwoDimensional(2);
        bn.train();
        using var input = randn(2, 2, 2, 2);
        UnderForcedCollections(() =>
        {
            for (int i = 0; i < 10_000; i++) bn.forward(input).Dispose();
        });
        Assert.Equal(10_000L, bn.num_batches_tracked!.item<long>());
    }

    private const string Planted = """
        using TorchSharp;
        using static TorchSharp.torch;
        class Planted
        {
            void Bad(Tensor t, Tensor u, double lr)
            {
                t.mul_(lr);                       // LUMEN001: a double becomes a Scalar
                t.add_(u);                        // LUMEN002: add_(target) makes alpha = 1 inside
                var sum = t + u;                  // LUMEN002: operator + makes alpha = 1 inside
                var half = t * 0.5;               // LUMEN002: the operator converts 0.5 inside
                var r = arange(10);               // LUMEN002 and LUMEN001: start and step made inside
                Tensor fromNumber = 3.0;          // LUMEN001: a double becomes a Tensor
            }
            void Good(Tensor t, Tensor u, double lr)
            {
                using var rate = lr.ToScalar();
                using var one = 1.ToScalar();
                t.mul_(rate).add_(u, one);
                var difference = t - u;
                var product = t * u;
            }
        }
        """;

    [Trait("Category", Category.Slow)]
    [Fact]
    public async Task AnalyzerFindsEveryPlantedScalarAndNothingElse()
    {
        var tree = CSharpSyntaxTree.ParseText(Planted);
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll"))
            .Select(p => MetadataReference.CreateFromFile(p))
            .Append(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location));
        var compilation = CSharpCompilation.Create("Planted", new[] { tree }, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Assert.Empty(compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        var diagnostics = await compilation.WithAnalyzers(ImmutableArray.Create<DiagnosticAnalyzer>(new ImplicitScalarAnalyzer()))
            .GetAnalyzerDiagnosticsAsync();
        string[] lines = Planted.Split('\n');
        var found = diagnostics.Select(d => (d.Id, Line: lines[d.Location.GetLineSpan().StartLinePosition.Line].Trim())).ToList();
        var expected = lines.Select(l => l.Trim()).Where(l => l.Contains("// LUMEN")).ToList();
        foreach (var line in expected)
            foreach (var id in new[] { ImplicitScalarAnalyzer.ImplicitConversionId, ImplicitScalarAnalyzer.HiddenScalarId }.Where(id => line.Contains("// " + id) || line.Contains("and " + id)))
                Assert.Contains((id, line), found);
        Assert.All(found, f => Assert.Contains("// LUMEN", f.Line));
    }
}
