using Lumen.Files;
using Lumen.Tasks;
using Lumen.Data;
using Lumen.Tests.Support;

namespace Lumen.Tests;

public class DataSourceTests
{
    [Fact]
    public void FolderLabelsComeFromTheParentFolderRecursivelyIgnoringHiddenAndNonImages()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "cats", "dogs" }, 3);
        dir.AddClasses(new[] { "dogs" }, 2, prefix: "more/nested", seedBase: 500);
        dir.Write(".ipynb_checkpoints/cats/img000-checkpoint.png", File.ReadAllBytes(dir.File("cats", "img000.png")));
        dir.Write("cats/notes.txt", "x"u8.ToArray());
        dir.Write("cats/.hidden.png", File.ReadAllBytes(dir.File("cats", "img001.png")));
        dir.Write("README.png", File.ReadAllBytes(dir.File("cats", "img002.png")));

        var listing = FolderSource.Scan(dir.Path);

        Assert.Null(listing.FixedSplit);
        Assert.Equal(8, listing.Items.Count);
        Assert.Equal(3, listing.Items.Count(i => i.Labels.Single() == "cats"));
        Assert.Equal(5, listing.Items.Count(i => i.Labels.Single() == "dogs"));
        Assert.DoesNotContain(listing.Items, i => i.Path.Contains(".ipynb_checkpoints") || i.Path.Contains(".hidden"));
        Assert.Equal(2, listing.IgnoredFiles); // notes.txt and the top-level README.png
        Assert.Equal(listing.Items.Select(i => i.Path).OrderBy(p => p, StringComparer.Ordinal), listing.Items.Select(i => i.Path));
    }

    [Fact]
    public void TrainAndValidFoldersDefineTheSplit()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4, prefix: "train");
        dir.AddClasses(new[] { "a", "b" }, 2, prefix: "valid", seedBase: 100);

        var dls = ImageDataLoaders.FromFolder(dir.Path, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4 } });

        Assert.Equal(8, dls.Train.Items.Count);
        Assert.Equal(4, dls.Valid.Items.Count);
        Assert.All(dls.Valid.Items, i => Assert.Contains($"{Path.DirectorySeparatorChar}valid{Path.DirectorySeparatorChar}", i.Path));
        Assert.Equal(new[] { "a", "b" }, dls.Vocab.Classes);
    }

    [Fact]
    public void CsvSingleLabelWithQuotesAndIsValidColumn()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "x" }, 3);
        File.WriteAllText(dir.File("labels.csv"),
            "file,label,is_valid\n\"x/img000.png\",polyp,false\nx/img001.png,\"normal, z-line\",1\nx/img002.png,polyp,0\n");

        var listing = CsvSource.Read("labels.csv", dir.Path, ImageTask.SingleLabel);

        Assert.Same(ImageTask.SingleLabel, listing.Task);
        Assert.Equal(new[] { Split.Train, Split.Valid, Split.Train }, listing.FixedSplit);
        Assert.Equal("polyp", listing.Items[0].Labels.Single());
        Assert.Equal("normal, z-line", listing.Items[1].Labels.Single());
        Assert.Equal(dir.File("x", "img000.png"), listing.Items[0].Path);
    }

    [Fact]
    public void CsvWithSeveralLabelsPerRowIsMultiLabelWithMultiHotTargets()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "x" }, 4);
        File.WriteAllText(dir.File("labels.csv"),
            "fname,labels\nx/img000.png,polyp;ulcer\nx/img001.png,polyp\nx/img002.png,ulcer bleeding\nx/img003.png,\n");

        var listing = CsvSource.Read(dir.File("labels.csv"), dir.Path);

        Assert.Same(ImageTask.MultiLabel, listing.Task);
        Assert.Equal(new[] { "polyp", "ulcer" }, listing.Items[0].Labels);
        Assert.Equal(new[] { "ulcer", "bleeding" }, listing.Items[2].Labels);
        Assert.Empty(listing.Items[3].Labels);

        var vocab = new Vocabulary(listing.Items.SelectMany(i => i.Labels));
        var loader = new DataLoader(listing.Items, vocab, listing.Task, new DataOptions { Item = new ItemTransform(16), Loader = new LoaderOptions { BatchSize = 4 } }, training: false, TorchSharp.torch.CPU);
        using var batch = loader.Batches().Single();
        Assert.Equal(new long[] { 4, 3 }, batch.Targets.shape); // bleeding, polyp, ulcer
        Assert.Equal(new float[] { 0, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0 }, batch.Targets.data<float>().ToArray());
    }

    [Fact]
    public void CsvProblemsNameTheFileAndLine()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "x" }, 1);
        File.WriteAllText(dir.File("bad.csv"), "file,label\nx/img000.png,a,b\nonlyonecolumn\n");
        var e = Assert.Throws<DataException>(() => CsvSource.Read("bad.csv", dir.Path));
        Assert.Contains("line 3", e.Message);
        Assert.Contains("bad.csv", e.Message);

        File.WriteAllText(dir.File("missing.csv"), "file,label\nx/img000.png,a\nx/gone.png,b\n");
        var listing = CsvSource.Read("missing.csv", dir.Path);
        Assert.Single(listing.Items);
        Assert.Contains("line 3", Assert.Single(listing.Missing).Reason);

        Assert.Throws<DataException>(() => CsvSource.Read("nope.csv", dir.Path));
    }

    [Fact]
    public void CsvParserHandlesQuotesEmptyCellsAndLineBreaksInsideQuotes()
    {
        Assert.Equal(new[] { "a", "b,c", "d\"e", "" }, Csv.Parse("a,\"b,c\",\"d\"\"e\",").Single().Cells);
        // A quoted cell may hold a line break (the old reader split lines first and broke such rows).
        var rows = Csv.Parse("file,label\r\n\"two\nlines.png\",x\n\nlast.png,y").ToList();
        Assert.Equal(new[] { "two\nlines.png", "x" }, rows[1].Cells);
        Assert.Equal((2, true), (rows[1].Line, rows[1].Terminated));
        Assert.Equal((5, false), (rows[2].Line, rows[2].Terminated));  // after the blank line 4; no final line break
        Assert.Equal(new[] { "last.png", "y" }, rows[2].Cells);
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("with,comma")]
    [InlineData("with \"quotes\"")]
    [InlineData("line\nbreak")]
    [InlineData("carriage\rreturn")]
    [InlineData("")]
    public void EveryCellLumenWritesReadsBackUnchanged(string value)
    {
        string text = Csv.Row(new[] { value, "next" }) + "\n";
        Assert.Equal(new[] { value, "next" }, Csv.Parse(text).Single().Cells);
    }

    [Fact]
    public void AnImageListNamesItsImagesInOrderAndReportsMissingOnes()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "x" }, 2);
        File.WriteAllText(dir.File("list.csv"), "file,label\nx/img001.png,a\nx/gone.png,b\nx/img000.png,a\n");
        var listed = ImageList.Read(dir.File("list.csv"), dir.Path);
        Assert.Equal(new[] { dir.File("x", "img001.png"), dir.File("x", "img000.png") }, listed.Files);
        Assert.Contains("line 3", Assert.Single(listed.Missing).Reason);
    }

    [Fact]
    public void SplitIsDeterministicStratifiedAndSeedDependent()
    {
        var items = Enumerable.Range(0, 50).Select(i => new LabelledItem($"/d/a/{i:D3}.png", "a"))
            .Concat(Enumerable.Range(0, 30).Select(i => new LabelledItem($"/d/b/{i:D3}.png", "b"))).ToList();

        var first = Splitter.Stratified(items, 0.2, seed: 42);
        var again = Splitter.Stratified(items.AsEnumerable().Reverse().ToList(), 0.2, seed: 42).Reverse().ToArray();
        var other = Splitter.Stratified(items, 0.2, seed: 7);

        Assert.Equal(first, again); // independent of input order
        Assert.NotEqual(first, other);
        Assert.Equal(10, items.Where((it, i) => it.Labels[0] == "a" && first[i] == Split.Valid).Count());
        Assert.Equal(6, items.Where((it, i) => it.Labels[0] == "b" && first[i] == Split.Valid).Count());
        Assert.All(Splitter.Stratified(items, 0, 42), s => Assert.Equal(Split.Train, s));  // 0: every item trains
        Assert.Throws<OptionException>(() => Splitter.Stratified(items, -0.1, 42));
        Assert.Throws<OptionException>(() => Splitter.Stratified(items, 1, 42));
    }

    [Fact]
    public void OneClassEmptyAndMissingFoldersAreClearErrors()
    {
        using var dir = new TempFolder();
        var empty = Assert.Throws<DataException>(() => ImageDataLoaders.FromFolder(dir.Path));
        Assert.Contains(dir.Path, empty.Message);
        Assert.Contains("no images", empty.Message);

        dir.AddClasses(new[] { "only" }, 5);
        var one = Assert.Throws<DataException>(() => ImageDataLoaders.FromFolder(dir.Path));
        Assert.Contains("only one class ('only')", one.Message);
        Assert.Contains(dir.Path, one.Message);

        var missing = Assert.Throws<DataException>(() => ImageDataLoaders.FromFolder(dir.File("absent")));
        Assert.Contains("does not exist", missing.Message);
    }

    [Fact]
    public void ALabelFunctionOnFileNamesLabelsLikeFastaisPets()
    {
        using var dir = new TempFolder();
        for (int i = 0; i < 5; i++)
        {
            dir.Write($"images/Persian_{i}.png", TestImages.Encode(TestImages.Pattern(24, 24, 10 + i), SkiaSharp.SKEncodedImageFormat.Png));
            dir.Write($"images/beagle_{i}.png", TestImages.Encode(TestImages.Pattern(24, 24, 20 + i), SkiaSharp.SKEncodedImageFormat.Png));
        }
        var dls = ImageDataLoaders.FromNameFunc(dir.File("images"), name => char.IsUpper(name[0]) ? "cat" : "dog",
            new DataOptions { Item = new ItemTransform(16), ValidPct = 0.4 });
        Assert.Equal(new[] { "cat", "dog" }, dls.Vocab.Classes);
        var all = dls.Train.Items.Concat(dls.Valid.Items).ToList();
        Assert.All(all, i => Assert.Equal(char.IsUpper(Path.GetFileName(i.Path)[0]) ? "cat" : "dog", i.Labels[0]));
        Assert.Equal(4, dls.Valid.Items.Count); // stratified: 40% of each class
    }

    [Fact]
    public void ListsAndItemsWithACustomSplitterFeedTheSameDataBlock()
    {
        using var dir = new TempFolder();
        dir.AddClasses(new[] { "a", "b" }, 4);
        var files = Directory.GetFiles(dir.Path, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var labels = files.Select(f => Path.GetFileName(Path.GetDirectoryName(f))!).ToList();
        var fromLists = ImageDataLoaders.FromLists(files, labels, new DataOptions { Item = new ItemTransform(16), ValidPct = 0.25 });
        Assert.Equal(8, fromLists.Train.Items.Count + fromLists.Valid.Items.Count);
        Assert.Equal(dir.Path, fromLists.Folder);

        // A splitter of one's own: the first image of each class is validation.
        var items = files.Select((f, i) => new LabelledItem(f, labels[i])).ToList();
        var custom = ImageDataLoaders.FromItems(items, Splitter.ByFunc(i => i.Path.EndsWith("img000.png")), new DataOptions { Item = new ItemTransform(16) });
        Assert.Equal(new[] { "img000.png", "img000.png" }, custom.Valid.Items.Select(i => Path.GetFileName(i.Path)));
        Assert.Equal("by the given splitter", custom.SplitDescription);
        Assert.Throws<DataException>(() => ImageDataLoaders.FromLists(files, labels.Take(3).ToList()));
    }
}
