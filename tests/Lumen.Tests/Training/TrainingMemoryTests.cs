using System.Diagnostics;
using Lumen.Augment;
using Lumen.Data;
using Lumen.Models;
using Lumen.Tests.Support;
using Lumen.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lumen.Tests;

/// <summary>
/// RSS is per process: this runs outside the parallel phase so other tests' allocations do not show
/// up as growth.
/// </summary>
[Collection(nameof(MemoryCollection))]
public class TrainingMemoryTests
{
    [Trait("Category", Category.Slow)]
    [Fact]
    public void MemoryStaysFlatAcrossEpochs()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "red", "green" }, 16, size: 32);
        var data = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(32), Loader = new LoaderOptions { BatchSize = 4, Workers = 2 }, Augment = AugmentOptions.Default });
        var learner = VisionLearner.Create(data, "resnet18", pretrained: false);
        learner.Unfreeze();
        var rss = new List<double>();
        learner.Callbacks.Add(new Probe(() => { GC.Collect(); GC.WaitForPendingFinalizers(); rss.Add(Process.GetCurrentProcess().WorkingSet64 / 1e6); }));
        learner.Fit(12, 1e-4);
        // The allocator's arenas make single samples jump by ~100 MB either way; a leak grows steadily.
        // Compare the medians of epochs 2-6 and 8-12.
        static double Median(IEnumerable<double> v) { var o = v.OrderBy(x => x).ToArray(); return o[o.Length / 2]; }
        double early = Median(rss.Skip(1).Take(5)), late = Median(rss.Skip(7).Take(5));
        Assert.True(late - early < 50, $"RSS median grew {late - early:F0} MB from epochs 2-6 to 8-12: {string.Join(", ", rss.Select(r => $"{r:F0}"))} MB");
    }

    private sealed class Probe(Action probe) : ICallback
    {
        public void AfterEpoch(Learner learner) => probe();
    }
}

/// <summary>Tests that need process-wide state to themselves (RSS, torch's global random generator).</summary>
[CollectionDefinition(nameof(MemoryCollection), DisableParallelization = true)]
public sealed class MemoryCollection { }
