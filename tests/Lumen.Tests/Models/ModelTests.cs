using System.Collections;
using System.Net;
using System.Security.Cryptography;
using Lumen.Models;
using Lumen.Tests.Support;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.PyBridge;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Lumen.Tests;

public class ModelTests
{
    public static TheoryData<string> AllArchitectures()
    {
        var data = new TheoryData<string>();
        foreach (var a in Architectures.All) data.Add(a.Name);
        return data;
    }

    [Trait("Category", Category.Slow)]
    [Theory]
    [MemberData(nameof(AllArchitectures))]
    public void EveryArchitectureBuildsWithANewHeadAndRunsAt64Pixels(string name)
    {
        using var scope = NewDisposeScope();
        using var model = VisionModel.Create(name, classes: 5, weights: "none");
        model.eval();
        using var noGrad = no_grad();
        var x = randn(2, 3, 64, 64);
        Assert.Equal(new long[] { 2, model.Architecture.Features }, model.Body.forward(x).shape[..2]);
        Assert.Equal(new long[] { 2, 5 }, model.forward(x).shape);
        var groups = model.LayerGroups();
        Assert.Equal(3, groups.Count);
        Assert.Equal(model.parameters().Count(), groups.Sum(g => g.Count));
        Assert.Equal(model.parameters().Count(), groups.SelectMany(g => g).Distinct().Count());
    }

    [Fact]
    public void UnknownArchitectureListsTheKnownOnes()
    {
        var e = Assert.Throws<OptionException>(() => Architectures.Get("resnet19"));
        Assert.Contains("resnet34", e.Message);
    }

    [Fact]
    public void ResNetLayerGroupsFollowFastai()
    {
        using var model = VisionModel.Create("resnet18", 3, weights: "none");
        var groups = model.LayerGroups();
        var names = model.named_parameters().ToDictionary(p => (object)p.parameter, p => p.name, ReferenceEqualityComparer.Instance);
        Assert.All(groups[0], p => Assert.Matches(@"^body\.(conv1|bn1|layer1|layer2)\.", names[p]));
        Assert.All(groups[1], p => Assert.Matches(@"^body\.(layer3|layer4)\.", names[p]));
        Assert.All(groups[2], p => Assert.StartsWith("head.", names[p]));
    }

    [Fact]
    public void HeadMatchesFastaiCreateHead()
    {
        using var head = Head.Create(512, 4);
        var kinds = head.named_children().Select(c => c.module.GetType().Name).ToArray();
        Assert.Equal(new[] { "AdaptiveConcatPool2d", "Flatten", "BatchNormLayer", "Dropout", "Linear", "ReLU", "BatchNormLayer", "Dropout", "Linear" }, kinds);
        var linears = head.modules().OfType<Linear>().ToList();
        Assert.Equal(new long[] { 512, 1024 }, linears[0].weight.shape);
        Assert.Equal(new long[] { 4, 512 }, linears[1].weight.shape);
        var dropouts = head.named_children().Where(c => c.name.StartsWith("drop")).Select(c => c.name).ToArray();
        Assert.Equal(new[] { "drop0", "drop1" }, dropouts);
        var bn = head.modules().OfType<BatchNormLayer>().First();
        Assert.Equal(1e-3f, bn.bias!.mean().item<float>(), 6);
        head.eval();
        using var features = randn(3, 512, 2, 2);
        Assert.Equal(new long[] { 3, 4 }, head.forward(features).shape);

        using var plain = Head.Create(512, 4, new HeadOptions { Plain = true });
        Assert.Equal(new long[] { 3, 4 }, plain.forward(features).shape);
        Assert.Single(plain.modules().OfType<Linear>());
    }

    [Fact]
    public void AdaptiveConcatPoolIsMaxThenAverage()
    {
        using var x = tensor(new float[] { 1, 2, 3, 6 }, new long[] { 1, 1, 2, 2 });
        using var y = new AdaptiveConcatPool2d().forward(x);
        Assert.Equal(new float[] { 6, 3 }, y.flatten().data<float>().ToArray());
    }

    [Theory]
    [InlineData("resnet18")]
    [InlineData("resnet50")]
    public void LumenResNetComputesWhatTorchVisionComputesWithTheSameWeights(string name)
    {
        using var scope = NewDisposeScope();
        Module<Tensor, Tensor> reference = name == "resnet18" ? torchvision.models.resnet18(num_classes: 7) : torchvision.models.resnet50(num_classes: 7);
        reference.eval();
        using var model = VisionModel.Create(name, 7, weights: "none");
        model.eval();
        var state = reference.state_dict();
        TorchvisionWeights.CopyStateDict(model.Body, state, "torchvision model", name);

        using var noGrad = no_grad();
        var x = randn(2, 3, 64, 64);
        var expected = reference.forward(x);
        var pooled = functional.adaptive_avg_pool2d(model.Body.forward(x), new long[] { 1, 1 }).flatten(1);
        var actual = functional.linear(pooled, state["fc.weight"], state["fc.bias"]);
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-4), $"max diff {(actual - expected).abs().max().item<float>()}");
    }

    [Trait("Category", Category.Slow)]
    [Theory]
    [InlineData("resnet18")]
    [InlineData("resnet34")]
    [InlineData("resnet50")]
    [InlineData("resnet101")]
    [InlineData("resnet152")]
    public void APthStateDictRoundTripsIntoEveryResNetDepth(string name)
    {
        using var dir = new TempFolder();
        using var scope = NewDisposeScope();
        using var source = VisionModel.Create(name, 3, weights: "none");
        // A torchvision-style file: body keys without prefix, plus an ImageNet fc that Lumen must ignore.
        var stateDict = new Hashtable();
        foreach (var (key, value) in source.Body.state_dict()) stateDict[key] = value;
        stateDict["fc.weight"] = randn(1000, source.Architecture.Features);
        stateDict["fc.bias"] = randn(1000);
        string pth = dir.File($"{name}.pth");
        PyTorchPickler.PickleStateDict(pth, stateDict);

        using var loaded = VisionModel.Create(name, 3, weights: pth);
        Assert.Equal($"{name}.pth", loaded.Spec.Weights);
        var expected = source.Body.state_dict();
        foreach (var (key, value) in loaded.Body.state_dict())
            Assert.True(value.equal(expected[key]).all().item<bool>(), key);
    }

    [Trait("Category", Category.Slow)]
    [Fact]
    public void AStateDictOfAnotherArchitectureIsRejectedClearly()
    {
        using var dir = new TempFolder();
        using var r18 = VisionModel.Create("resnet18", 3, weights: "none");
        string pth = dir.File("resnet18.pth");
        r18.Body.save_py(pth);
        var e = Assert.Throws<OptionException>(() => VisionModel.Create("resnet34", 3, weights: pth));
        Assert.Contains("does not fit resnet34", e.Message);
        File.WriteAllText(dir.File("junk.pth"), "not a pickle");
        Assert.Contains("not a PyTorch state dict", Assert.Throws<OptionException>(() => VisionModel.Create("resnet18", 3, weights: dir.File("junk.pth"))).Message);
        Assert.Contains("does not exist", Assert.Throws<OptionException>(() => VisionModel.Create("resnet18", 3, weights: dir.File("nope.pth"))).Message);
    }

    [Fact]
    public void DownloadVerifiesTheHashPrefixAndWritesOnlyVerifiedFiles()
    {
        using var dir = new TempFolder();
        byte[] payload = RandomNumberGenerator.GetBytes(200_000);
        string prefix = Convert.ToHexString(SHA256.HashData(payload)).ToLowerInvariant()[..8];
        using var server = new LocalFileServer(payload);

        string good = dir.File("weights", $"resnet18-{prefix}.pth");
        TorchvisionWeights.Download(server.Url, TorchvisionWeights.HashPrefix(good), good, NullProgress.Instance);
        Assert.Equal(payload, File.ReadAllBytes(good));

        string bad = dir.File("weights", "resnet18-deadbeef.pth");
        var e = Assert.Throws<LumenException>(() => TorchvisionWeights.Download(server.Url, "deadbeef", bad, NullProgress.Instance));
        Assert.Contains("corrupt", e.Message);
        Assert.False(File.Exists(bad));
        Assert.False(File.Exists(bad + ".part"));

        var offline = Assert.Throws<LumenException>(() => TorchvisionWeights.Download(new Uri("http://127.0.0.1:9/resnet34-b627a593.pth"), "b627a593", bad, NullProgress.Instance));
        Assert.Contains("http://127.0.0.1:9/resnet34-b627a593.pth", offline.Message);
        Assert.Contains(bad, offline.Message);
    }

    [Fact]
    public void DeviceOptionIsParsed()
    {
        Assert.Equal(DeviceType.CPU, Devices.Parse("cpu").type);
        Assert.Equal(cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, Devices.Parse("auto").type);
        Assert.Equal(OptionName.Device, Assert.Throws<OptionException>(() => Devices.Parse("tpu")).Option);
        if (!cuda.is_available()) Assert.Contains("CUDA is not available", Assert.Throws<OptionException>(() => Devices.Parse("cuda")).Message);
    }

    /// <summary>Serves one byte array over HTTP on 127.0.0.1 (no network needed).</summary>
    private sealed class LocalFileServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public LocalFileServer(byte[] payload)
        {
            int port = Random.Shared.Next(20000, 60000);
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            Url = new Uri($"http://127.0.0.1:{port}/file.pth");
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try { context = await _listener.GetContextAsync(); } catch { return; }
                    context.Response.ContentLength64 = payload.Length;
                    await context.Response.OutputStream.WriteAsync(payload);
                    context.Response.Close();
                }
            });
        }

        public Uri Url { get; }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }
}
