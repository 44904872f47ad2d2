namespace Lumen.Data;

/// <summary>
/// Lists the files below a folder the way a user expects of a dataset folder: symbolic links to files
/// and folders are followed (datasets are often linked in from other disks), each real file is listed
/// once, a link leading back into a folder being walked (a cycle) is reported once and not followed,
/// folders that cannot be read are reported and skipped, and links whose target is gone are reported.
/// Hidden files and folders (names starting with '.') and macOS archive debris are skipped.
/// </summary>
public static class FolderWalk
{
    /// <summary>What a walk found.</summary>
    /// <param name="Files">Every visible file once, sorted by path.</param>
    /// <param name="Broken">Links with an image name whose target does not exist, with the reason.</param>
    /// <param name="Warnings">Cycles and unreadable folders, one line each.</param>
    public sealed record Result(IReadOnlyList<string> Files, IReadOnlyList<UnreadableFile> Broken, IReadOnlyList<string> Warnings);

    private sealed record Pending(string Path, string RealPath, int LinkDepth, Ancestors Chain);

    // The real paths of the folders from the top down to one folder: a link into any of them is a cycle.
    private sealed record Ancestors(string RealPath, Ancestors? Parent)
    {
        public bool Contains(string realPath) => RealPath == realPath || (Parent?.Contains(realPath) ?? false);
    }

    /// <summary>Walks <paramref name="top"/> (which must exist).</summary>
    public static Result Walk(string top)
    {
        top = Path.GetFullPath(top);
        // A real file reached by several paths keeps the one through the fewest links, then the first by name.
        var byReal = new Dictionary<string, (string Path, int LinkDepth)>(StringComparer.Ordinal);
        var broken = new List<UnreadableFile>();
        var warnings = new List<string>();
        var warned = new HashSet<string>(StringComparer.Ordinal);
        string topReal = RealPath(top);
        var pending = new Stack<Pending>();
        pending.Push(new Pending(top, topReal, 0, new Ancestors(topReal, null)));
        while (pending.Count > 0)
        {
            var (dir, dirReal, depth, chain) = pending.Pop();
            List<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(dir).EnumerateFileSystemInfos().ToList();
            }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException)
            {
                if (warned.Add("unreadable|" + dirReal)) warnings.Add($"folder '{dir}' cannot be read ({e.Message}); its images are skipped");
                continue;
            }
            foreach (var entry in entries)
            {
                string name = entry.Name;
                if (name.StartsWith('.') || name == "__MACOSX") continue;
                bool isLink = entry.LinkTarget is not null;
                if (!isLink)
                {
                    if (entry is DirectoryInfo)
                    {
                        string real = Path.Combine(dirReal, name);
                        pending.Push(new Pending(entry.FullName, real, depth, new Ancestors(real, chain)));
                    }
                    else Keep(byReal, Path.Combine(dirReal, name), entry.FullName, depth);
                    continue;
                }
                string? target;
                try
                {
                    target = RealPath(entry.FullName);
                }
                catch (IOException e)
                {
                    // Too many levels of links: a loop among the links themselves.
                    if (warned.Add("loop|" + Path.Combine(dirReal, name))) warnings.Add($"symbolic link '{entry.FullName}' cannot be resolved ({e.Message}); not followed");
                    continue;
                }
                if (Directory.Exists(target))
                {
                    if (chain.Contains(target))
                    {
                        if (warned.Add("cycle|" + Path.Combine(dirReal, name)))
                            warnings.Add($"symbolic link '{entry.FullName}' leads back to '{target}', a folder it is inside (a cycle); not followed");
                        continue;
                    }
                    pending.Push(new Pending(entry.FullName, target, depth + 1, new Ancestors(target, chain)));
                }
                else if (File.Exists(target)) Keep(byReal, target, entry.FullName, depth + 1);
                else if (Imaging.ImageDecoder.IsImageFile(name))
                    broken.Add(new UnreadableFile(entry.FullName, $"broken symbolic link: its target '{entry.LinkTarget}' does not exist"));
                else if (warned.Add("broken|" + Path.Combine(dirReal, name)))
                    warnings.Add($"symbolic link '{entry.FullName}' points to '{entry.LinkTarget}', which does not exist; skipped");
            }
        }
        var files = byReal.Values.Select(v => v.Path).Order(StringComparer.Ordinal).ToList();
        broken.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return new Result(files, broken, warnings);
    }

    private static void Keep(Dictionary<string, (string Path, int LinkDepth)> byReal, string real, string path, int depth)
    {
        if (!byReal.TryGetValue(real, out var kept) || depth < kept.LinkDepth || (depth == kept.LinkDepth && string.CompareOrdinal(path, kept.Path) < 0))
            byReal[real] = (path, depth);
    }

    /// <summary>
    /// The path with every symbolic link resolved, component by component (POSIX <c>realpath</c>).
    /// A path that does not exist is resolved as far as it exists.
    /// </summary>
    /// <exception cref="IOException">Links nest more than 40 levels deep (a loop among links).</exception>
    public static string RealPath(string path) => RealPath(Path.GetFullPath(path), 0);

    private static string RealPath(string full, int hops)
    {
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            FileSystemInfo info = new FileInfo(next);
            if (info.LinkTarget is { } link)
            {
                if (++hops > 40) throw new IOException("too many levels of symbolic links");
                string target = Path.IsPathRooted(link) ? link : Path.Combine(current, link);
                next = RealPath(Path.GetFullPath(target), hops);
            }
            current = next;
        }
        return current;
    }
}
