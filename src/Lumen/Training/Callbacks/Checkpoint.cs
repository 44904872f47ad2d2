using System.Text.Json;
using System.Text.Json.Nodes;
using Lumen.Models;
using Lumen.Tensors;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace Lumen.Training;

/// <summary>
/// Writes a resumable checkpoint after every epoch and when training is interrupted: a zip with the
/// model and optimiser state (safetensors), the position (phase, epoch, batch), and the state of
/// every <see cref="IStatefulCallback"/> (the recorder's history, the fine_tune plan, early stopping,
/// the user's own), written atomically. <see cref="FineTuning.ResumeFineTune"/> continues from it.
/// </summary>
/// <param name="path">Where the checkpoint is written.</param>
public sealed class Checkpoint(string path) : ICallback
{
    private const int Format = 3;

    /// <summary>Where the checkpoint is written.</summary>
    public string Path => path;

    void ICallback.AfterEpoch(Learner learner) => Save(learner, path);

    void ICallback.AfterFit(Learner learner)
    {
        if (learner.Interrupted) Save(learner, path);
    }

    // Sha256: each tensor entry's SHA-256 (hex), checked on load; absent in checkpoints written before Lumen recorded it.
    private sealed record Meta(int Format, ModelSpec Spec, FitPosition Position, int FrozenGroups, Dictionary<string, JsonNode> Callbacks,
        Dictionary<string, string>? Sha256 = null);

    private static readonly JsonEntry<Meta> MetaEntry = new("checkpoint.json");
    private static readonly BlobEntry ModelEntry = new("model.safetensors");
    private static readonly BlobEntry OptimizerEntry = new("optimizer.safetensors");

    private static BlobEntry CallbackEntry(string key) => new($"callbacks/{key}.safetensors");

    /// <summary>Writes <paramref name="learner"/>'s checkpoint to <paramref name="file"/>.</summary>
    public static void Save(Learner learner, string file)
    {
        var states = learner.AllCallbacks.OfType<IStatefulCallback>().ToDictionary(c => c.StateKey, c => c.SaveState());
        var meta = new Meta(Format, learner.Model.Spec, learner.Position, learner.FrozenGroups, states.ToDictionary(s => s.Key, s => s.Value.Json));
        ArchiveWriter.Write(file, Json, archive =>
        {
            var digests = new Dictionary<string, string>(StringComparer.Ordinal);
            void Tensors(BlobEntry entry, IReadOnlyDictionary<string, Tensor> tensors)
            {
                using var memory = new MemoryStream();
                Safetensors.SaveStateDict(memory, tensors.ToDictionary(kv => kv.Key, kv => kv.Value), leaveOpen: true);
                byte[] bytes = memory.ToArray();
                digests[entry.Name] = ArchiveReader.Sha256(bytes);
                archive.Add(entry, bytes);
            }
            Tensors(ModelEntry, learner.Model.state_dict());
            var optimizer = learner.Optimizer.StateDict();
            Tensors(OptimizerEntry, optimizer);
            foreach (var t in optimizer.Values) t.Dispose();
            foreach (var (key, state) in states)
                if (state.Tensors is { Count: > 0 } tensors) Tensors(CallbackEntry(key), tensors);
            archive.Add(MetaEntry, meta with { Sha256 = digests });
        });
    }

    /// <summary>
    /// Restores weights, optimiser, freezing and the state of the learner's stateful callbacks from
    /// <paramref name="file"/>; returns the position to continue from and every saved state by key
    /// (for the run's own callbacks, such as the fine_tune plan).
    /// </summary>
    /// <exception cref="LumenException">The file is missing, not a Lumen checkpoint, or from another model.</exception>
    public static (FitPosition Position, IReadOnlyDictionary<string, CallbackState> States) Load(Learner learner, string file)
    {
        using var archive = ArchiveReader.Open(file, Json, "checkpoint", $"'{file}' is not a valid Lumen checkpoint (not a zip archive, or truncated)");
        var meta = archive.Read(MetaEntry) ?? throw new LumenException($"'{file}' is not a Lumen checkpoint (no {MetaEntry.Name})");
        if (meta.Spec is null || meta.Callbacks is null || meta.Position is null) throw new LumenException($"checkpoint '{file}' has an incomplete {MetaEntry.Name}");
        if (meta.Format != Format)
            throw new LumenException($"checkpoint '{file}' has format {meta.Format}; this Lumen resumes format {Format} only (start the run again)");
        if (meta.Spec.Architecture != learner.Model.Spec.Architecture || meta.Spec.Classes != learner.Model.Spec.Classes)
            throw new LumenException($"checkpoint '{file}' is a {meta.Spec.Architecture} checkpoint with {meta.Spec.Classes} classes, but this run builds {learner.Model.Spec.Architecture} with {learner.Model.Spec.Classes}");
        if (meta.FrozenGroups < 0 || meta.FrozenGroups >= learner.Groups.Count)
            throw new LumenException($"checkpoint '{file}' freezes {meta.FrozenGroups} layer groups, but the model has {learner.Groups.Count}");
        var states = new Dictionary<string, CallbackState>();
        var owned = new List<TensorSet>();
        try
        {
            learner.FreezeTo(meta.FrozenGroups);
            using (var model = ReadTensors(archive, ModelEntry, meta.Sha256)) StateDicts.CopyInto(learner.Model, model.Tensors, $"checkpoint '{file}'");
            using (var optimizer = ReadTensors(archive, OptimizerEntry, meta.Sha256)) learner.Optimizer.LoadStateDict(optimizer.Tensors);
            foreach (var (key, json) in meta.Callbacks)
            {
                var entry = CallbackEntry(key);
                var tensors = archive.Has(entry) ? ReadTensors(archive, entry, meta.Sha256) : null;
                if (tensors is not null) owned.Add(tensors);
                states[key] = new CallbackState(json, tensors?.Tensors);
            }
            foreach (var callback in learner.AllCallbacks.OfType<IStatefulCallback>())
                if (states.TryGetValue(callback.StateKey, out var state)) callback.LoadState(state);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !(e is LumenException && e.Message.Contains(file, StringComparison.Ordinal)))
        {
            // The states come from the file: one that cannot be restored (a missing value, a tensor
            // of another type) is the file's fault, whatever the callback threw, and the message names it.
            string what = e is LumenException ? e.Message : $"{e.GetType().Name}: {e.Message}";
            throw new LumenException($"'{file}' is not a valid Lumen checkpoint: its training state cannot be restored ({what})", e);
        }
        finally
        {
            foreach (var set in owned) set.Dispose();
        }
        return (meta.Position, states);
    }

    private sealed class TensorSet(Dictionary<string, Tensor> tensors) : IDisposable
    {
        public Dictionary<string, Tensor> Tensors => tensors;

        public void Dispose()
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    // Checkpoints written before Lumen recorded checksums (no digests) load unchecked; one that records
    // some must record each tensor entry's.
    private static TensorSet ReadTensors(ArchiveReader archive, BlobEntry entry, IReadOnlyDictionary<string, string>? digests)
    {
        string? expected = null;
        if (digests is not null && !digests.TryGetValue(entry.Name, out expected))
            throw new LumenException($"'{archive.Source}' is corrupt: the checksum of its {entry.Name} does not match (none is recorded)");
        return new(archive.ReadTensors(entry, expected));
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
}
