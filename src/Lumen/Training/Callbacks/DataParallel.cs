using System.Diagnostics;
using System.Runtime.InteropServices;
using Lumen.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// Data-parallel training over a process group (Horovod's scheme on MPI). Each process trains on its
/// slice of every global batch (<see cref="Data.DataLoader.WithShard"/>); after each backward pass the
/// gradients are summed over all processes in one flattened buffer, weighted by each slice's size, so
/// every process takes the same optimiser step that one process would take on the whole batch.
/// At the start of a fit rank 0's weights are broadcast (identical starting points), and before each
/// validation the BatchNorm running statistics are averaged (BatchNorm normalises each slice with its own
/// batch statistics during training, as PyTorch's DDP does without SyncBatchNorm), so that every process
/// holds the same model to validate and export. Validation is split too: each process predicts a block
/// of the validation images and the blocks' outputs are combined, so every process computes the metrics
/// over the whole validation set.
/// </summary>
/// <param name="group">The processes of the job.</param>
public sealed class DataParallel(IProcessGroup group) : ICallback
{
    private readonly Stopwatch _communication = new();

    /// <summary>Optimiser steps synchronised so far.</summary>
    public int Steps { get; private set; }

    /// <summary>Time spent in gradient all-reduces (including flattening and copying back).</summary>
    public TimeSpan AllreduceTime => _communication.Elapsed;

    void ICallback.BeforeFit(Learner learner)
    {
        using (no_grad())
        {
            var tensors = learner.Model.parameters().Select(p => (Tensor)p).Concat(FloatBuffers(learner)).ToList();
            Exchange(tensors, buffer => group.Broadcast(buffer), scale: null);
        }
        var valid = learner.Data.Valid;
        if (valid.Items.Count >= group.Size)
        {
            var (from, to) = Partition.Block(valid.Items.Count, group.Rank, group.Size);
            var block = new Data.DataLoader(valid.Items.Skip(from).Take(to - from).ToList(), valid.Vocab, valid.Task, valid.Options, training: false, valid.Device);
            learner.ValidationPredictions = () => Combine(learner, learner.Predict(block, inFit: true), from);
        }
    }

    /// <summary>
    /// The whole validation set's predictions from each process's block (rows from <paramref name="offset"/>):
    /// every process puts its rows into zeroed full-size buffers and the buffers are summed; the losses
    /// follow from the combined outputs and targets.
    /// </summary>
    private Predictions Combine(Learner learner, Predictions block, int offset)
    {
        using (block)
        {
            var items = learner.Data.Valid.Items;
            using var scope = NewDisposeScope();
            var parts = new[] { block.Logits, block.Targets.to(ScalarType.Float32) };
            var full = parts.Select(p => zeros(new[] { (long)items.Count }.Concat(p.shape.Skip(1)).ToArray())).ToList();
            for (int i = 0; i < parts.Length; i++) full[i].narrow(0, offset, parts[i].shape[0]).copy_(parts[i]);
            Exchange(full, buffer => group.AllreduceSum(buffer), scale: null);
            var logits = full[0].MoveToOuterDisposeScope();
            var targets = full[1].to(block.Targets.dtype).MoveToOuterDisposeScope();
            Tensor losses;
            using (no_grad()) losses = learner.Loss.PerItem(logits, targets).MoveToOuterDisposeScope();
            return new Predictions(logits, targets, losses, items, block.Task);
        }
    }

    void ICallback.AfterBackward(Learner learner)
    {
        _communication.Start();
        using (no_grad())
        {
            var gradients = learner.Model.parameters().Where(p => p.requires_grad && p.grad is not null).Select(p => p.grad!).ToList();
            // Each slice's loss is a mean over its images: weight by the slice's size, divide by the batch's.
            long local = learner.X.shape[0];
            Exchange(gradients, buffer => group.AllreduceSum(buffer), scale: (local, true));
        }
        _communication.Stop();
        Steps++;
    }

    void ICallback.BeforeValidate(Learner learner)
    {
        using var noGrad = no_grad();
        var buffers = FloatBuffers(learner).ToList();
        if (buffers.Count > 0) Exchange(buffers, buffer => group.AllreduceSum(buffer), scale: (1, false));
    }

    /// <summary>The running statistics of BatchNorm layers (float buffers; the int64 batch counters are left alone).</summary>
    private static IEnumerable<Tensor> FloatBuffers(Learner learner) =>
        learner.Model.buffers().Where(b => b.dtype == ScalarType.Float32);

    /// <summary>
    /// Copies <paramref name="tensors"/> into one float buffer, runs <paramref name="collective"/> on it and
    /// copies the result back. With a scale (n, weighted): each rank multiplies by n and adds n as the last
    /// element, and the summed result is divided by the sum of n (weighted) or by the number of ranks.
    /// </summary>
    private void Exchange(IReadOnlyList<Tensor> tensors, Action<Span<float>> collective, (long N, bool Weighted)? scale)
    {
        if (tensors.Count == 0) return;
        using var scope = NewDisposeScope();
        var flat = cat(tensors.Select(t => t.detach().flatten().to(ScalarType.Float32).cpu()).ToList(), 0);
        if (scale is { } s)
        {
            using var weight = ((double)s.N).ToScalar();
            if (s.Weighted) flat.mul_(weight);
            flat = cat(new[] { flat, tensor(new float[] { s.N }) }, 0);
        }
        flat = flat.contiguous();
        var span = MemoryMarshal.Cast<byte, float>(flat.bytes);
        collective(span);
        if (scale is { } done)
        {
            using var divisor = (done.Weighted ? span[^1] : group.Size).ToScalar();
            flat = flat.narrow(0, 0, flat.shape[0] - 1).div_(divisor);
        }
        long offset = 0;
        foreach (var t in tensors)
        {
            long n = t.numel();
            t.copy_(flat.narrow(0, offset, n).view_as(t).to(t.dtype).to(t.device));
            offset += n;
        }
    }
}
