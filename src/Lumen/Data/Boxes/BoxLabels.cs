using System.Globalization;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Lumen.Data.Masks;
using Lumen.Files;
using Lumen.Imaging;

namespace Lumen.Data.Boxes;

/// <summary>The box formats Lumen reads.</summary>
public enum BoxFormat
{
    /// <summary>Kvasir-SEG's <c>kavsir_bboxes.json</c>: <c>{ "&lt;stem&gt;": { "height", "width", "bbox": [ { "label", "xmin", … } ] } }</c>.</summary>
    Kvasir,

    /// <summary>COCO instances JSON: <c>images</c>, <c>annotations</c> (bbox x, y, w, h), <c>categories</c>.</summary>
    Coco,

    /// <summary>A CSV with a row per box: <c>file,label,xmin,ymin,xmax,ymax</c>; a row with an empty label lists an image without boxes.</summary>
    Csv,

    /// <summary>A folder of Pascal VOC XML files, one per image.</summary>
    Voc,

    /// <summary>A folder of YOLO text files, one per image (<c>class cx cy w h</c>, normalised), with <c>classes.txt</c>.</summary>
    Yolo,

    /// <summary>A folder of masks: each connected region of a class becomes a box.</summary>
    Masks,
}

/// <summary>What a box file says about one image.</summary>
/// <param name="Name">How the file names the image: a path relative to the images folder, a file name or a stem.</param>
/// <param name="Boxes">Its boxes, in the file's order (empty: an image without objects).</param>
/// <param name="Width">The image width the file declares, if it declares one.</param>
/// <param name="Height">The image height the file declares, if it declares one.</param>
/// <param name="Source">Where the entry is, for messages (the file, and the line or id).</param>
public sealed record ImageBoxes(string Name, IReadOnlyList<LabelledBox> Boxes, int? Width, int? Height, string Source);

/// <summary>
/// Boxes as a labels file or folder gives them, before they are matched with images: one reader per
/// format, each refusing a malformed file with a message naming the file and the entry.
/// </summary>
/// <param name="Format">The format read.</param>
/// <param name="Images">Per image the file mentions, its boxes.</param>
/// <param name="ListsEveryImage">True when the file enumerates the dataset's images (COCO, Kvasir, CSV), so an
/// image it does not name is not part of the data; false for one file per image (VOC, YOLO, masks), where
/// an image without a file has no objects.</param>
/// <param name="Classes">The classes in the file's declared order (COCO categories, YOLO classes.txt), or null to sort the labels.</param>
public sealed record BoxLabels(BoxFormat Format, IReadOnlyList<ImageBoxes> Images, bool ListsEveryImage, IReadOnlyList<string>? Classes)
{
    /// <summary>Mask regions with fewer pixels are JPEG specks, not objects, and give no box.</summary>
    public const int MinRegionPixels = 16;

    /// <summary>
    /// Reads <paramref name="path"/>, recognising its format: a <c>.json</c> file is COCO (it has
    /// <c>images</c> and <c>annotations</c>) or Kvasir-SEG's; a <c>.csv</c> file has a row per box; a folder
    /// holds VOC <c>.xml</c> files, YOLO <c>.txt</c> files or masks. <paramref name="masks"/> reads a masks folder.
    /// </summary>
    /// <exception cref="DataException">The path does not exist, its format is not recognised, or an entry is malformed (named).</exception>
    public static BoxLabels Read(string path, MaskEncoding? masks = null)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path).ToList();
            if (files.Any(f => Is(f, ".xml"))) return ReadVoc(path);
            if (files.Any(f => Is(f, ".txt") && !IsClassesFile(f))) return ReadYolo(path);
            if (FolderSource.ImageFiles(path).Count > 0) return ReadMasks(path, masks ?? MaskEncoding.Binary());
            throw new DataException($"the boxes folder '{Path.GetFullPath(path)}' holds no VOC .xml, YOLO .txt or mask files");
        }
        if (!File.Exists(path)) throw new DataException($"the boxes file '{Path.GetFullPath(path)}' does not exist");
        if (Is(path, ".csv")) return ReadCsv(path);
        if (Is(path, ".json"))
        {
            using var json = ParseJson(path);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("annotations", out _) && root.TryGetProperty("images", out _)) return ReadCoco(path, root);
            if (root.ValueKind == JsonValueKind.Object) return ReadKvasir(path, root);
            throw new DataException($"{path}: expected a JSON object (COCO instances or Kvasir-SEG's boxes), found {root.ValueKind}");
        }
        throw new DataException($"{path}: boxes come as a .json (COCO or Kvasir-SEG), a .csv (file,label,xmin,ymin,xmax,ymax) or a folder of VOC .xml, YOLO .txt or masks");
    }

    private static bool Is(string path, string extension) => Path.GetExtension(path).Equals(extension, StringComparison.OrdinalIgnoreCase);

    private static bool IsClassesFile(string path) => Path.GetFileName(path).Equals("classes.txt", StringComparison.OrdinalIgnoreCase);

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new DataException($"{path}: not valid JSON ({e.Message})");
        }
    }

    private static BoxLabels ReadKvasir(string path, JsonElement root)
    {
        var images = new List<ImageBoxes>();
        foreach (var entry in root.EnumerateObject())
        {
            string where = $"{path}, entry \"{entry.Name}\"";
            if (entry.Value.ValueKind != JsonValueKind.Object || !entry.Value.TryGetProperty("bbox", out var list) || list.ValueKind != JsonValueKind.Array)
                throw new DataException($"{where}: expected {{ \"height\", \"width\", \"bbox\": [ … ] }} (Kvasir-SEG's layout)");
            var boxes = list.EnumerateArray().Select((b, k) => new LabelledBox(
                Text(b, "label", $"{where}, box {k + 1}"),
                Number(b, "xmin", where, k), Number(b, "ymin", where, k), Number(b, "xmax", where, k), Number(b, "ymax", where, k))).ToList();
            images.Add(new ImageBoxes(entry.Name, boxes, OptionalInt(entry.Value, "width", where), OptionalInt(entry.Value, "height", where), where));
        }
        return new BoxLabels(BoxFormat.Kvasir, images, true, null);
    }

    private static BoxLabels ReadCoco(string path, JsonElement root)
    {
        var categories = new Dictionary<long, string>();
        if (root.TryGetProperty("categories", out var cats) && cats.ValueKind == JsonValueKind.Array)
            foreach (var c in cats.EnumerateArray())
                categories[Id(c, $"{path}, categories")] = Text(c, "name", $"{path}, category {Id(c, $"{path}, categories")}");
        var byId = new Dictionary<long, (string File, int? W, int? H, List<LabelledBox> Boxes)>();
        foreach (var image in Array(root, "images", path))
        {
            long id = Id(image, $"{path}, images");
            string where = $"{path}, image {id}";
            if (!byId.TryAdd(id, (Text(image, "file_name", where), OptionalInt(image, "width", where), OptionalInt(image, "height", where), new List<LabelledBox>())))
                throw new DataException($"{where}: the id is used by two images");
        }
        int index = 0;
        foreach (var a in Array(root, "annotations", path))
        {
            string where = $"{path}, annotation {(a.TryGetProperty("id", out var aid) ? aid.ToString() : $"#{index + 1}")}";
            index++;
            long imageId = a.TryGetProperty("image_id", out var i) && i.TryGetInt64(out long v) ? v : throw new DataException($"{where}: no numeric image_id");
            if (!byId.TryGetValue(imageId, out var image)) throw new DataException($"{where}: image_id {imageId} is not among the images");
            long category = a.TryGetProperty("category_id", out var c) && c.TryGetInt64(out long cv) ? cv : throw new DataException($"{where}: no numeric category_id");
            if (!categories.TryGetValue(category, out string? label)) throw new DataException($"{where}: category_id {category} is not among the categories");
            // Crowd regions mark many objects at once; COCO's evaluation ignores them, and so does training here.
            if (a.TryGetProperty("iscrowd", out var crowd) && crowd.ValueKind == JsonValueKind.Number && crowd.GetInt32() != 0) continue;
            if (!a.TryGetProperty("bbox", out var bbox) || bbox.ValueKind != JsonValueKind.Array || bbox.GetArrayLength() != 4)
                throw new DataException($"{where}: bbox must be [x, y, width, height]");
            var xywh = bbox.EnumerateArray().Select(n => n.ValueKind == JsonValueKind.Number ? n.GetSingle() : throw new DataException($"{where}: bbox holds a non-number")).ToArray();
            image.Boxes.Add(new LabelledBox(label, xywh[0], xywh[1], xywh[0] + xywh[2], xywh[1] + xywh[3]));
        }
        var images = byId.Select(kv => new ImageBoxes(kv.Value.File, kv.Value.Boxes, kv.Value.W, kv.Value.H, $"{path}, image {kv.Key}")).ToList();
        return new BoxLabels(BoxFormat.Coco, images, true, categories.OrderBy(kv => kv.Key).Select(kv => kv.Value).Distinct().ToList());
    }

    private static BoxLabels ReadCsv(string path)
    {
        var rows = Csv.Parse(File.ReadAllText(path)).ToList();
        if (rows.Count == 0) throw new DataException($"{path}: empty; expected a header file,label,xmin,ymin,xmax,ymax and a row per box");
        string[] header = rows[0].Cells.Select(c => c.Trim().ToLowerInvariant()).ToArray();
        string[] wanted = { "label", "xmin", "ymin", "xmax", "ymax" };
        int[] columns = wanted.Select(w => System.Array.IndexOf(header, w)).ToArray();
        if (header.Length < 6 || columns.Any(c => c < 0))
            throw new DataException($"{path}: the header must name file,label,xmin,ymin,xmax,ymax (file first), found {string.Join(",", header)}");
        var byFile = new Dictionary<string, (List<LabelledBox> Boxes, int Line)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var row in rows.Skip(1))
        {
            if (row.Cells.All(string.IsNullOrWhiteSpace)) continue;
            string where = $"{path}, line {row.Line}";
            if (row.Cells.Length < header.Length) throw new DataException($"{where}: {row.Cells.Length} cells, the header has {header.Length}");
            string file = row.Cells[0].Trim();
            if (file.Length == 0) throw new DataException($"{where}: no file name");
            if (!byFile.TryGetValue(file, out var entry)) { entry = (new List<LabelledBox>(), row.Line); byFile[file] = entry; order.Add(file); }
            string label = row.Cells[columns[0]].Trim();
            if (label.Length == 0)
            {
                if (columns.Skip(1).Any(c => row.Cells[c].Trim().Length > 0)) throw new DataException($"{where}: a box needs a label (an empty label and empty corners list an image without boxes)");
                continue;
            }
            float Corner(int k) => float.TryParse(row.Cells[columns[k]], NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
                ? v : throw new DataException($"{where}: {wanted[k]} '{row.Cells[columns[k]]}' is not a number");
            entry.Boxes.Add(new LabelledBox(label, Corner(1), Corner(2), Corner(3), Corner(4)));
        }
        return new BoxLabels(BoxFormat.Csv, order.Select(f => new ImageBoxes(f, byFile[f].Boxes, null, null, $"{path}, line {byFile[f].Line}")).ToList(), true, null);
    }

    private static BoxLabels ReadVoc(string folder)
    {
        var images = new List<ImageBoxes>();
        foreach (string file in Directory.EnumerateFiles(folder, "*.xml").Order(StringComparer.Ordinal))
        {
            XElement root;
            try
            {
                using var stream = File.OpenRead(file);
                using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
                root = XElement.Load(reader);
            }
            catch (XmlException e)
            {
                throw new DataException($"{file}: not valid XML ({e.Message})");
            }
            string name = root.Element("filename")?.Value.Trim() is { Length: > 0 } f ? f : Path.GetFileNameWithoutExtension(file);
            var size = root.Element("size");
            int? w = size is null ? null : VocInt(size, "width", file), h = size is null ? null : VocInt(size, "height", file);
            var boxes = root.Elements("object").Select((o, k) =>
            {
                string where = $"{file}, object {k + 1}";
                var box = o.Element("bndbox") ?? throw new DataException($"{where}: no <bndbox>");
                string label = o.Element("name")?.Value.Trim() is { Length: > 0 } n ? n : throw new DataException($"{where}: no <name>");
                return new LabelledBox(label, VocFloat(box, "xmin", where), VocFloat(box, "ymin", where), VocFloat(box, "xmax", where), VocFloat(box, "ymax", where));
            }).ToList();
            images.Add(new ImageBoxes(name, boxes, w is 0 ? null : w, h is 0 ? null : h, file));
        }
        return new BoxLabels(BoxFormat.Voc, images, false, null);
    }

    private static BoxLabels ReadYolo(string folder)
    {
        string? classesFile = new[] { folder, Path.GetDirectoryName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar)) }
            .Where(d => d is not null).Select(d => Path.Combine(d!, "classes.txt")).FirstOrDefault(File.Exists);
        var classes = classesFile is null ? null
            : File.ReadAllLines(classesFile).Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        var images = new List<ImageBoxes>();
        foreach (string file in Directory.EnumerateFiles(folder, "*.txt").Where(f => !IsClassesFile(f)).Order(StringComparer.Ordinal))
        {
            var boxes = new List<LabelledBox>();
            string[] lines = File.ReadAllLines(file);
            for (int l = 0; l < lines.Length; l++)
            {
                string[] parts = lines[l].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                string where = $"{file}, line {l + 1}";
                if (parts.Length != 5) throw new DataException($"{where}: expected 'class cx cy w h', found {parts.Length} values");
                if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int c) || (classes is not null && c >= classes.Count))
                    throw new DataException($"{where}: class '{parts[0]}' is not {(classes is null ? "a class index" : $"an index of {classesFile}'s {classes.Count} classes")}");
                var v = parts.Skip(1).Select(p => float.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out float x) && float.IsFinite(x)
                    ? x : throw new DataException($"{where}: '{p}' is not a number")).ToArray();
                // Normalised centre and size; turned into pixels once the image's size is known.
                boxes.Add(new LabelledBox(classes?[c] ?? c.ToString(CultureInfo.InvariantCulture), v[0] - v[2] / 2, v[1] - v[3] / 2, v[0] + v[2] / 2, v[1] + v[3] / 2));
            }
            images.Add(new ImageBoxes(Path.GetFileNameWithoutExtension(file), boxes, null, null, file));
        }
        return new BoxLabels(BoxFormat.Yolo, images, false, classes);
    }

    private static BoxLabels ReadMasks(string folder, MaskEncoding encoding)
    {
        var files = FolderSource.ImageFiles(folder);
        var images = new ImageBoxes[files.Count];
        var problems = new string?[files.Count];
        Parallel.For(0, files.Count, i =>
        {
            try
            {
                var mask = new MaskFile(files[i], encoding).Read();
                images[i] = new ImageBoxes(Path.GetFileNameWithoutExtension(files[i]), Regions(mask, encoding.Classes), mask.Width, mask.Height, files[i]);
            }
            catch (ImageDecodeException e)
            {
                problems[i] = $"{files[i]}: {e.Reason}";
            }
            catch (DataException e)
            {
                problems[i] = e.Message;
            }
        });
        var failed = problems.OfType<string>().ToList();
        if (failed.Count > 0)
            throw new DataException($"{failed.Count} of the {files.Count} masks in {folder} cannot be read as boxes; nothing was loaded:\n  {string.Join("\n  ", failed.Take(5))}");
        return new BoxLabels(BoxFormat.Masks, images, false, encoding.Classes.Skip(1).ToList());
    }

    /// <summary>
    /// The bounding box of every 8-connected region of each foreground class (class 0 is the
    /// background), regions under <see cref="MinRegionPixels"/> pixels ignored, in scan order.
    /// </summary>
    public static List<LabelledBox> Regions(ClassMask mask, IReadOnlyList<string> classes)
    {
        int w = mask.Width, h = mask.Height;
        var seen = new bool[w * h];
        var boxes = new List<LabelledBox>();
        var stack = new Stack<int>();
        for (int start = 0; start < w * h; start++)
        {
            byte c = mask.Classes[start];
            if (c == 0 || seen[start]) continue;
            int x0 = w, y0 = h, x1 = -1, y1 = -1, pixels = 0;
            seen[start] = true;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int p = stack.Pop(), x = p % w, y = p / w;
                pixels++;
                x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int nx = x + dx, ny = y + dy;
                        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
                        int q = ny * w + nx;
                        if (!seen[q] && mask.Classes[q] == c) { seen[q] = true; stack.Push(q); }
                    }
            }
            if (pixels >= MinRegionPixels) boxes.Add(new LabelledBox(classes[c], x0, y0, x1 + 1, y1 + 1));
        }
        return boxes;
    }

    private static IEnumerable<JsonElement> Array(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : throw new DataException($"{path}: '{name}' must be an array");

    private static long Id(JsonElement e, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty("id", out var id) && id.TryGetInt64(out long v) ? v : throw new DataException($"{where}: an entry without a numeric id");

    private static string Text(JsonElement e, string name, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Trim().Length > 0
            ? v.GetString()!.Trim() : throw new DataException($"{where}: no '{name}' text");

    private static float Number(JsonElement box, string name, string where, int k) =>
        box.ValueKind == JsonValueKind.Object && box.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && float.IsFinite(v.GetSingle())
            ? v.GetSingle() : throw new DataException($"{where}, box {k + 1}: '{name}' must be a number");

    private static int? OptionalInt(JsonElement e, string name, string where) =>
        !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.TryGetInt32(out int i) && i > 0 ? i : throw new DataException($"{where}: '{name}' must be a positive whole number");

    private static int VocInt(XElement size, string name, string file) =>
        int.TryParse(size.Element(name)?.Value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0
            ? v : throw new DataException($"{file}: <size><{name}> must be a whole number");

    private static float VocFloat(XElement box, string name, string where) =>
        float.TryParse(box.Element(name)?.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v)
            ? v : throw new DataException($"{where}: <{name}> must be a number");
}
