namespace Lumen.Data.Datasets;

/// <summary>How labels are read from an extracted dataset.</summary>
public enum DatasetLayout
{
    /// <summary>Labels are the folders holding the images (innermost folder for nested layouts).</summary>
    ClassFolders,

    /// <summary>Labels come from file names by <see cref="DatasetEntry.LabelRegex"/> (fastai's from_name_re).</summary>
    FileNameRegex,

    /// <summary>Segmentation: <c>images/</c> and <c>masks/</c> with the same stems (see <see cref="Masks.SegmentationSource"/>).</summary>
    ImagesAndMasks,
}

/// <summary>A dataset Lumen knows by name.</summary>
/// <param name="Name">The name users type (<c>lumen train kvasir-v2</c>).</param>
/// <param name="Description">One line.</param>
/// <param name="Url">Where the archive is published.</param>
/// <param name="ApproximateBytes">Archive size, for the progress display and the listing (approximate).</param>
/// <param name="Sha256">The archive's SHA-256 once recorded from a verified download; until then, null, and
/// the archive's integrity and expected class folders are checked instead.</param>
/// <param name="Licence">Terms shown on download.</param>
/// <param name="Citation">What to cite.</param>
/// <param name="Layout">How labels are read.</param>
/// <param name="ImageFolder">Folder under the extraction root that holds the images ("" = the root).</param>
/// <param name="LabelRegex">For <see cref="DatasetLayout.FileNameRegex"/>: group 1 is the label.</param>
/// <param name="ExpectedClasses">Class folders that must exist after extraction (integrity check); for
/// <see cref="DatasetLayout.ImagesAndMasks"/>, the mask classes.</param>
/// <param name="MinClasses">The least number of classes a complete copy has; for
/// <see cref="DatasetLayout.ImagesAndMasks"/>, the least number of images with masks.</param>
/// <param name="Bundled">For a sample that ships with Lumen: its folder relative to Lumen's assembly
/// (copied there by the build); nothing is downloaded.</param>
public sealed record DatasetEntry(string Name, string Description, string Url, long ApproximateBytes, string? Sha256, string Licence, string Citation,
    DatasetLayout Layout, string ImageFolder, string? LabelRegex, IReadOnlyList<string> ExpectedClasses, int MinClasses, string? Bundled = null);

/// <summary>The datasets of the seed project, one word away (fastai's <c>untar_data(URLs.…)</c>).</summary>
public static class DatasetCatalog
{
    private const string KvasirLicence = "Kvasir may be used for research and educational purposes only; commercial use is prohibited without permission (Simula Research Laboratory).";
    private const string KvasirCitation = "Pogorelov et al., \"KVASIR: A Multi-Class Image Dataset for Computer Aided Gastrointestinal Disease Detection\", ACM MMSys 2017.";
    private static readonly string[] KvasirClasses =
    {
        "dyed-lifted-polyps", "dyed-resection-margins", "esophagitis", "normal-cecum", "normal-pylorus", "normal-z-line", "polyps", "ulcerative-colitis",
    };

    /// <summary>All entries.</summary>
    public static IReadOnlyList<DatasetEntry> All { get; } = new[]
    {
        new DatasetEntry("brain-mri-sample", "Bundled sample: 480 brain MRI slices, 4 classes (glioma, meningioma, notumor, pituitary), 224 px",
            "", 4_300_000, null,
            "Sample for learning the tool, not for diagnosis; source terms unverified (commonly listed CC0 1.0), see its PROVENANCE.md.",
            "Nickparvar, \"Brain Tumor MRI Dataset\", Kaggle 2021; Cheng et al., PLoS ONE 10(10), 2015.",
            DatasetLayout.ClassFolders, "", null, new[] { "glioma", "meningioma", "notumor", "pituitary" }, 4, Bundled: "samples/brain-mri"),
        new DatasetEntry("kvasir-v1", "Kvasir v1: 4,000 endoscopy images, 8 classes", "https://datasets.simula.no/downloads/kvasir/kvasir-dataset.zip",
            1_200_000_000, null, KvasirLicence, KvasirCitation, DatasetLayout.ClassFolders, "", null, KvasirClasses, 8),
        new DatasetEntry("kvasir-v2", "Kvasir v2: 8,000 endoscopy images, 8 classes", "https://datasets.simula.no/downloads/kvasir/kvasir-dataset-v2.zip",
            2_300_000_000, null, KvasirLicence, KvasirCitation, DatasetLayout.ClassFolders, "", null, KvasirClasses, 8),
        new DatasetEntry("hyper-kvasir-labeled", "HyperKvasir labelled images: 10,662 images, 23 classes nested as tract/category/class",
            "https://datasets.simula.no/downloads/hyper-kvasir/hyper-kvasir-labeled-images.zip", 3_900_000_000, null,
            "HyperKvasir is licensed CC BY 4.0.", "Borgli et al., \"HyperKvasir, a comprehensive multi-class image and video dataset for gastrointestinal endoscopy\", Scientific Data 7, 283 (2020).",
            DatasetLayout.ClassFolders, "", null, new[] { "polyps", "cecum", "pylorus", "z-line" }, 20),
        new DatasetEntry("kvasir-seg", "Kvasir-SEG: 1,000 colonoscopy images of polyps with expert masks (and boxes)",
            "https://datasets.simula.no/downloads/kvasir-seg.zip", 46_000_000, null, KvasirLicence,
            "Jha et al., \"Kvasir-SEG: A Segmented Polyp Dataset\", MultiMedia Modeling (MMM) 2020.",
            DatasetLayout.ImagesAndMasks, "Kvasir-SEG", null, new[] { "background", "foreground" }, 1000),
        new DatasetEntry("oxford-pets", "Oxford-IIIT Pet (fastai's copy): 7,390 images of 37 breeds, labels in the file names",
            "https://s3.amazonaws.com/fast-ai-imageclas/oxford-iiit-pet.tgz", 811_000_000, null,
            "Oxford-IIIT Pet is licensed CC BY-SA 4.0.", "Parkhi et al., \"Cats and Dogs\", IEEE CVPR 2012.",
            DatasetLayout.FileNameRegex, "images", @"^(.+)_\d+\.jpg$", Array.Empty<string>(), 37),
    };

    /// <summary>The entry called <paramref name="name"/>, or null.</summary>
    public static DatasetEntry? Find(string name) => All.FirstOrDefault(e => e.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}
