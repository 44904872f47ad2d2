using System.ComponentModel;
using Spectre.Console.Cli;
using Lumen.Cli;

namespace Lumen.Cli.Options;

/// <summary>Options shared by commands that build a model to train (train, lr-find).</summary>
internal class TrainSettings : DataSettings
{
    [CommandOption("--arch <NAME>")]
    [Description("Architecture (see 'lumen models'); default resnet18, whose ImageNet weights ship offline")]
    [DefaultValue("resnet18")]
    public string Arch { get; init; } = "resnet18";

    [CommandOption("--weights <WEIGHTS>")]
    [Description("default (pretrained), none (random init), imagenet (torchvision), imagenet-mlnet (resnet18), or a torchvision .pth file")]
    [DefaultValue("default")]
    public string Weights { get; init; } = "default";

    [CommandOption("--head <HEAD>")]
    [Description("fastai (default: concat pooling, BatchNorm, dropout, a hidden layer of 512) or plain (average pooling and one linear layer, as torchvision)")]
    [DefaultValue("fastai")]
    public string Head { get; init; } = "fastai";

    /// <summary>The head named by --head.</summary>
    public Lumen.Models.HeadOptions ToHeadOptions() => Head.ToLowerInvariant() switch
    {
        "fastai" => Lumen.Models.HeadOptions.Default,
        "plain" => new Lumen.Models.HeadOptions { Plain = true },
        _ => throw new LumenException($"--head must be fastai or plain, got '{Head}'"),
    };

    [CommandOption("--device <DEVICE>")]
    [Description("auto, cpu, cuda or cuda:N")]
    [DefaultValue("auto")]
    public string Device { get; init; } = "auto";

    [CommandOption("--threads <N>")]
    [Description("CPU threads for tensor work (default: all cores)")]
    public int? Threads { get; init; }

    [CommandOption("--label-smoothing")]
    [Description("Cross-entropy with label smoothing 0.1")]
    public bool LabelSmoothing { get; init; }

    [CommandOption("--dice-weight <W>")]
    [Description("Segmentation: add W × (1 − soft Dice) to the pixels' cross-entropy (default 0)")]
    public double? DiceWeight { get; init; }

    [CommandOption("--mixup")]
    [Description("MixUp with alpha 0.4")]
    public bool MixUp { get; init; }

    [CommandOption("--ema")]
    [Description("Validate and keep an exponential moving average of the weights (decay 0.99)")]
    public bool Ema { get; init; }

    [CommandOption("--progressive <PX>")]
    [Description("Progressive resizing: train the first half of each phase's epochs on smaller images, growing from PX to --size")]
    public int? Progressive { get; init; }

    [CommandOption("--oversample")]
    [Description("Draw training images with probability inverse to their class size")]
    public bool Oversample { get; init; }

    [CommandOption("--class-weights")]
    [Description("Weight the loss by inverse class frequency")]
    public bool ClassWeights { get; init; }

    [CommandOption("--freeze-bn")]
    [Description("Freeze BatchNorm too while the body is frozen: the frozen phase runs without autograd (faster; with --aug none the features are cached)")]
    public bool FreezeBn { get; init; }

    public Lumen.Training.TrainingOptions ToTrainingOptions() => new()
    {
        LabelSmoothing = LabelSmoothing ? 0.1 : 0,
        DiceWeight = DiceWeight ?? 0,
        Oversample = Oversample,
        ClassWeights = ClassWeights,
        TrainBn = !FreezeBn,
    };

    public Lumen.Training.CallbackOptions ToCallbackOptions() => new()
    {
        MixUpAlpha = MixUp ? 0.4 : 0,
        WeightAveragingDecay = Ema ? 0.99 : 0,
        ProgressiveStartSize = Progressive,
    };

    public TorchSharp.torch.Device ResolveDevice()
    {
        if (Threads is { } n)
        {
            if (n < 1) throw new LumenException($"--threads must be at least 1, got {n}");
            TorchSharp.torch.set_num_threads(n);
        }
        var device = Lumen.Models.Devices.Parse(Device);
        // One rank per GPU: under mpirun, a bare "cuda" (or auto) means the GPU of this rank's slot on its machine.
        return Cluster.Group is not null && Lumen.Distributed.ProcessGroups.LocalRank() is { } local ? Lumen.Models.Devices.ForLocalRank(device, local) : device;
    }
}
