using System.Text.Json;
using Lumen.Tensors;
using static TorchSharp.torch;

namespace Lumen.Inference;

/// <summary>
/// An ensemble: one archive holding member model files (e.g. the folds of a cross-validation) whose
/// <see cref="Predictor"/> averages the members' probabilities. It has the model file's extension; the
/// entry <c>ensemble.json</c> tells it apart.
/// </summary>
public static class EnsembleFile
{
    private static readonly JsonEntry<EnsembleDocument> DocumentEntry = new("ensemble.json");

    /// <summary>Most members an ensemble file may name (each is a whole model to load).</summary>
    private const int MaxMembers = 100;

    private sealed record EnsembleDocument(string Format, int Version, List<string> Members);

    /// <summary>True when <paramref name="path"/> is an ensemble written by <see cref="Save"/>.</summary>
    /// <exception cref="LumenException">The file is missing or not a Lumen file.</exception>
    public static bool Is(string path)
    {
        using var archive = ModelFile.Open(path);
        return Holds(archive);
    }

    /// <summary>
    /// Writes an ensemble of <paramref name="members"/> (model files, not ensembles). The members must
    /// share classes, task and preprocessing.
    /// </summary>
    /// <exception cref="LumenException">Fewer than two members, a member is not a Lumen model, or the members disagree.</exception>
    public static void Save(string path, IReadOnlyList<string> members)
    {
        if (members.Count < 2) throw new LumenException($"an ensemble needs at least two models, got {members.Count}");
        var infos = members.Select(ModelFile.ReadInfo).ToList();
        foreach (var (info, member) in infos.Zip(members).Skip(1))
            if (!info.Classes.SequenceEqual(infos[0].Classes) || info.Task != infos[0].Task
                || JsonSerializer.Serialize(info.Preprocessing, ModelFile.Json) != JsonSerializer.Serialize(infos[0].Preprocessing, ModelFile.Json))
                throw new LumenException($"'{member}' cannot join an ensemble with '{members[0]}': classes, task and preprocessing must be the same");
        var entries = members.Select((_, i) => new BlobEntry($"member-{i + 1}.lumen")).ToList();
        ArchiveWriter.Write(path, ModelFile.Json, archive =>
        {
            archive.Add(DocumentEntry, new EnsembleDocument("lumen-ensemble", 1, entries.Select(e => e.Name).ToList()));
            for (int i = 0; i < members.Count; i++) archive.AddFile(entries[i], members[i]);
        });
    }

    /// <summary>The member models of an ensemble file, loaded (the caller disposes them).</summary>
    /// <exception cref="LumenException">The file is not an ensemble, or a member is unreadable.</exception>
    public static IReadOnlyList<LoadedModel> Load(string path, Device? device = null)
    {
        using var archive = ModelFile.Open(path);
        var members = new List<LoadedModel>();
        try
        {
            foreach (string name in Document(archive).Members)
            {
                using var member = OpenMember(archive, name);
                members.Add(ModelFile.Load(member, device));
            }
            return members;
        }
        catch
        {
            foreach (var m in members) m.Dispose();
            throw;
        }
    }

    /// <summary>True when <paramref name="archive"/> is an ensemble.</summary>
    internal static bool Holds(ArchiveReader archive) => archive.Has(DocumentEntry);

    /// <summary>The first member of an ensemble (whose metadata all members share but the weights), opened as an archive of its own.</summary>
    internal static ArchiveReader OpenFirstMember(ArchiveReader archive) => OpenMember(archive, Document(archive).Members[0]);

    private static ArchiveReader OpenMember(ArchiveReader archive, string name)
    {
        var entry = new BlobEntry(name);
        if (!archive.Has(entry)) throw new LumenException($"'{archive.Source}' is not a complete ensemble: member {name} is missing");
        return archive.OpenNested(entry);
    }

    private static EnsembleDocument Document(ArchiveReader archive)
    {
        string path = archive.Source;
        var doc = archive.Read(DocumentEntry) ?? throw new LumenException($"'{path}' is not an ensemble");
        if (doc.Format != "lumen-ensemble" || doc.Members is null || doc.Members.Count == 0) throw new LumenException($"'{path}' has an unreadable {DocumentEntry.Name}");
        if (doc.Version > 1) throw new LumenException($"'{path}' was written by a newer Lumen (ensemble version {doc.Version}); upgrade Lumen");
        if (doc.Members.Count > MaxMembers || doc.Members.Distinct().Count() != doc.Members.Count)
            throw new LumenException($"'{path}' is corrupt: its {DocumentEntry.Name} names {doc.Members.Count} members ({doc.Members.Distinct().Count()} distinct; at most {MaxMembers})");
        return doc;
    }
}
