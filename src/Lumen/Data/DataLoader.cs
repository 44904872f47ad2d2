using System.Collections.Concurrent;
using System.Threading.Channels;
using Lumen.Augment;
using Lumen.Data.Boxes;
using Lumen.Data.Masks;
using Lumen.Imaging;
using Lumen.Tasks;
using TorchSharp;
using static TorchSharp.torch;
using Lumen.Distributed;

namespace Lumen.Data;

/// <summary>
/// Turns items into batches. Images are decoded and resized on worker threads, a bounded number of
/// batches ahead (so memory stays bounded and data larger than RAM streams from disk); the consumer
/// thread stacks them into a tensor on the device, augments (training only) and normalises.
/// Shuffling, crops and augmentation are seeded per epoch, batch and item, so a run is reproducible
/// regardless of thread timing.
/// </summary>
public sealed class DataLoader
{
    private readonly ItemTransform _transform;
    private readonly BatchAugmenter? _augmenter;
    private readonly DataOptions _options;
    private readonly Device _device;
    private readonly ConcurrentDictionary<string, RgbImage>? _cache;
    private readonly IReadOnlyList<double>? _sampleWeights;

    /// <summary>Creates a loader over <paramref name="items"/>.</summary>
    /// <param name="items">The items to load.</param>
    /// <param name="vocab">Class vocabulary for the targets.</param>
    /// <param name="task">What the labels mean; it makes each batch's targets.</param>
    /// <param name="options">Size, batch size, workers, augmentation and normalisation.</param>
    /// <param name="training">Training loaders shuffle, drop the last partial batch, crop randomly and augment.</param>
    /// <param name="device">Where batches are placed.</param>
    /// <param name="sampleWeights">Training only: draw each epoch's items with replacement with these
    /// relative weights (weighted oversampling) instead of a shuffle; null for a plain shuffle.</param>
    public DataLoader(IReadOnlyList<LabelledItem> items, Vocabulary vocab, ImageTask task, DataOptions options, bool training, Device device,
        IReadOnlyList<double>? sampleWeights = null)
    {
        if (sampleWeights is not null && sampleWeights.Count != items.Count)
            throw new ArgumentException($"expected {items.Count} sample weights, got {sampleWeights.Count}", nameof(sampleWeights));
        _sampleWeights = sampleWeights;
        options.Validate();
        if (items.Any(i => i.Mask is not null) && items.Any(i => i.Mask is null))
            throw new ArgumentException("either every item has a mask or none has", nameof(items));
        if (items.Any(i => i.Boxes is not null) && items.Any(i => i.Boxes is null))
            throw new ArgumentException("either every item has boxes or none has", nameof(items));
        Items = items;
        Vocab = vocab;
        Task = task;
        Training = training;
        _options = options;
        _device = device;
        _transform = options.Item;
        _augmenter = training && !options.Augment.IsIdentity ? new BatchAugmenter(options.Augment) : null;
        _cache = options.Loader.CacheImages ? new ConcurrentDictionary<string, RgbImage>(StringComparer.Ordinal) : null;
    }

    /// <summary>The options the loader was built with.</summary>
    public DataOptions Options => _options;

    /// <summary>True when the items carry masks (segmentation): batches' targets are the masks, moved with the images.</summary>
    public bool HasMasks => Items.Count > 0 && Items[0].Mask is not null;

    /// <summary>
    /// True when the items carry boxes (detection): batches' targets are the boxes, moved with the
    /// images and padded to <see cref="MaxBoxes"/> per image.
    /// </summary>
    public bool HasBoxes => Items.Count > 0 && Items[0].Boxes is not null;

    /// <summary>
    /// The most boxes any item has (at least 1): every batch's box targets are padded to it, so the
    /// predictions of all batches stack into one tensor.
    /// </summary>
    public int MaxBoxes => HasBoxes ? Math.Max(1, Items.Max(i => i.Boxes!.Count)) : 0;

    /// <summary>The device batches are placed on.</summary>
    public Device Device => _device;

    /// <summary>The same items with other options (e.g. the normalisation of a model's weights).</summary>
    public DataLoader With(DataOptions options) => new(Items, Vocab, Task, options, Training, _device, _sampleWeights) { Shard = Shard };

    /// <summary>
    /// Data-parallel training: this loader yields part <c>Rank</c> of <c>Size</c> of every batch (near-equal
    /// consecutive slices of the same global batch), so N processes together see each image once per epoch
    /// and only decode their own. (0, 1) is the whole batch.
    /// </summary>
    public (int Rank, int Size) Shard { get; private init; } = (0, 1);

    /// <summary>This loader's part <paramref name="rank"/> of <paramref name="size"/> of every batch (see <see cref="Shard"/>).</summary>
    /// <exception cref="OptionException">The rank is outside [0, size), or a batch has fewer images than there are processes.</exception>
    public DataLoader WithShard(int rank, int size)
    {
        if (size < 1 || rank < 0 || rank >= size) throw new OptionException(OptionName.Shard, $"must be a rank in [0, {size}), got {rank}");
        if (BatchSize < size) throw new OptionException(OptionName.BatchSize, $"must be at least the number of processes ({size}), got {BatchSize}");
        return new DataLoader(Items, Vocab, Task, _options, Training, _device, _sampleWeights) { Shard = (rank, size) };
    }

    /// <summary>The item indices (into <see cref="Items"/>) of batch <paramref name="batch"/> that this loader yields, given the epoch's order.</summary>
    public ArraySegment<int> BatchIndices(int[] order, int batch)
    {
        int start = batch * BatchSize, count = Math.Min(BatchSize, order.Length - start);
        var (from, to) = Partition.Block(count, Shard.Rank, Shard.Size);
        return new ArraySegment<int>(order, start + from, to - from);
    }

    /// <summary>A training loader that oversamples: each item is drawn with probability ∝ 1 / (size of its class).</summary>
    public DataLoader WithClassBalancedSampling()
    {
        var counts = Items.GroupBy(i => i.LabelText, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        return new DataLoader(Items, Vocab, Task, _options, Training, _device, Items.Select(i => 1.0 / counts[i.LabelText]).ToArray()) { Shard = Shard };
    }

    /// <summary>The items this loader serves.</summary>
    public IReadOnlyList<LabelledItem> Items { get; }

    /// <summary>The class vocabulary.</summary>
    public Vocabulary Vocab { get; }

    /// <summary>What the labels mean; it makes each batch's targets.</summary>
    public ImageTask Task { get; }

    /// <summary>True for the training loader.</summary>
    public bool Training { get; }

    /// <summary>The normalisation applied to every batch.</summary>
    public Normalization Normalization => _options.Normalization;

    /// <summary>Images per batch.</summary>
    public int BatchSize => _options.Loader.BatchSize ?? LoaderOptions.DefaultBatchSize;

    /// <summary>
    /// Batches per epoch. Training drops the last partial batch (a batch of one breaks BatchNorm)
    /// unless that would leave no batch at all.
    /// </summary>
    public int BatchCount
    {
        get
        {
            int full = Items.Count / BatchSize, rest = Items.Count % BatchSize;
            return Training && full > 0 ? full : full + (rest > 0 ? 1 : 0);
        }
    }

    /// <summary>The batches of epoch <paramref name="epoch"/>; enumerate once, dispose each batch.</summary>
    /// <param name="epoch">Epoch number: seeds the shuffle, crops and augmentation.</param>
    /// <param name="startBatch">Skip the first batches (resuming an interrupted epoch); the remaining
    /// batches are exactly those an uninterrupted epoch would have produced.</param>
    public IEnumerable<Batch> Batches(int epoch = 0, int startBatch = 0)
    {
        int[] order = EpochOrder(epoch);
        int batches = BatchCount;

        int maxBoxes = MaxBoxes;
        var channel = Channel.CreateBounded<RawBatch>(
            new BoundedChannelOptions(_options.Loader.Prefetch) { SingleReader = true, SingleWriter = true });
        using var cancel = new CancellationTokenSource();
        Task producer = System.Threading.Tasks.Task.Run(async () =>
        {
            try
            {
                for (int b = startBatch; b < batches; b++)
                {
                    var indices = BatchIndices(order, b);
                    int count = indices.Count;
                    var images = new RgbImage[count];
                    var masks = HasMasks ? new ClassMask[count] : null;
                    var boxes = HasBoxes ? new BoxList[count] : null;
                    var items = new LabelledItem[count];
                    Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = _options.Loader.Workers, CancellationToken = cancel.Token }, k =>
                    {
                        int index = indices[k];
                        items[k] = Items[index];
                        Random? random = Training ? new Random(Seeds.Derive(_options.Seed, SeedStream.ItemTransform, epoch, index)) : null;
                        RgbImage source = LoadSource(Items[index].Path);
                        if (masks is not null) (images[k], masks[k]) = _transform.Apply(source, Items[index].Mask!.Read(_transform.SourceShortSide), random);
                        else if (boxes is not null) (images[k], boxes[k]) = _transform.Apply(source, Items[index].Boxes!, random);
                        else images[k] = _transform.Apply(source, random);
                    });
                    await channel.Writer.WriteAsync(new RawBatch(images, masks, boxes, items), cancel.Token);
                }
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.Complete(e is AggregateException { InnerExceptions.Count: 1 } a ? a.InnerException : e);
            }
        });

        try
        {
            for (int b = startBatch; b < batches; b++)
            {
                var raw = ReadNext(channel.Reader);
                var random = new Random(Seeds.Derive(_options.Seed, SeedStream.BatchAugment, epoch, b));
                yield return raw.Boxes is null ? Collate(raw.Images, raw.Masks, raw.Items, random) : CollateBoxes(raw.Images, raw.Boxes, raw.Items, maxBoxes, random);
            }
        }
        finally
        {
            cancel.Cancel();
            try { producer.Wait(); } catch (AggregateException) { /* cancelled or already reported */ }
        }
    }

    /// <summary>Item indices in epoch order: identity for validation, a seeded shuffle or weighted draw for training.</summary>
    internal int[] EpochOrder(int epoch)
    {
        int[] order = Enumerable.Range(0, Items.Count).ToArray();
        if (!Training) return order;
        var random = new Random(Seeds.Derive(_options.Seed, SeedStream.Shuffle, epoch));
        if (_sampleWeights is null)
        {
            random.Shuffle(order);
            return order;
        }
        var cumulative = new double[order.Length];
        double total = 0;
        for (int i = 0; i < order.Length; i++) cumulative[i] = total += _sampleWeights[i];
        for (int i = 0; i < order.Length; i++)
        {
            int found = Array.BinarySearch(cumulative, random.NextDouble() * total);
            order[i] = Math.Min(found < 0 ? ~found : found, order.Length - 1);
        }
        return order;
    }

    /// <summary>One batch's transformed images and targets, before stacking.</summary>
    private sealed record RawBatch(RgbImage[] Images, ClassMask[]? Masks, BoxList[]? Boxes, LabelledItem[] Items);

    private static RawBatch ReadNext(ChannelReader<RawBatch> reader)
    {
        try
        {
            if (!reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult() || !reader.TryRead(out var raw))
                throw new InvalidOperationException("the image loader stopped before the epoch ended");
            return raw;
        }
        catch (ChannelClosedException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            throw;
        }
    }

    /// <summary>Decodes (or fetches from the cache) the image, shrunk to what the transform needs.</summary>
    private RgbImage LoadSource(string path)
    {
        if (_cache is not null && _cache.TryGetValue(path, out var cached)) return cached;
        RgbImage image = _transform.Load(path);
        _cache?.TryAdd(path, image);
        return image;
    }

    /// <summary>
    /// Stacks images into a batch on the device, augments (training) and normalises. Masks, when the
    /// items have them, are the targets: stacked (N×H×W class indices) and moved by the same
    /// augmentation as their images.
    /// </summary>
    internal Batch Collate(IReadOnlyList<RgbImage> images, IReadOnlyList<ClassMask>? masks, IReadOnlyList<LabelledItem> items, Random random)
    {
        using var scope = NewDisposeScope();
        Tensor? stacked = masks is null ? null : MaskTensor.Stack(masks, _device);
        var (x, y) = _options.Preprocessing.Batch(images, stacked, _device, _augmenter is null ? null : (rgb, m) => _augmenter.Apply(rgb, m, random));
        y ??= Task.Targets(items, Vocab, _device);
        return new Batch(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), items);
    }

    /// <summary>
    /// As <see cref="Collate"/> for items with boxes: the augmentation moves each image's boxes with
    /// it, and the targets are the boxes padded to <paramref name="maxBoxes"/> per image (N×M×5: class
    /// index or −1, then the corners in input pixels).
    /// </summary>
    internal Batch CollateBoxes(IReadOnlyList<RgbImage> images, IReadOnlyList<BoxList> boxes, IReadOnlyList<LabelledItem> items, int maxBoxes, Random random)
    {
        using var scope = NewDisposeScope();
        IReadOnlyList<BoxList> moved = boxes;
        var (x, _) = _options.Preprocessing.Batch(images, null, _device, _augmenter is null ? null : (rgb, _) =>
        {
            var (augmented, placed) = _augmenter.Apply(rgb, boxes, random);
            moved = placed;
            return (augmented, null);
        });
        Tensor y = BoxTargets.Pad(moved, Vocab, maxBoxes, _device);
        return new Batch(x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), items);
    }
}
