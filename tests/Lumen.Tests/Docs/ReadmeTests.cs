using System.Text.RegularExpressions;

namespace Lumen.Tests;

/// <summary>The C# blocks of the README and docs/ are <see cref="ReadmeExamples"/>'s regions, so they compile.</summary>
public class ReadmeTests
{
    private static string Root() => Lumen.Tests.Support.Repo.Root;

    // Lines without indentation and trailing space; the README's "using" lines are the test file's usings.
    private static string Normalise(IEnumerable<string> lines)
    {
        var kept = lines.Where(l => !l.TrimStart().StartsWith("using Lumen.")).ToList();
        int indent = kept.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", kept.Select(l => (l.Length >= indent ? l[indent..] : l.TrimStart()).TrimEnd())).Trim();
    }

    [Fact]
    public void EveryCSharpBlockOfTheReadmeIsACompiledExample()
    {
        string root = Root();
        // The README and the pages of docs/ it links to.
        var pages = Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Prepend(Path.Combine(root, "README.md"));
        var readme = pages.SelectMany(page => Regex.Matches(File.ReadAllText(page), "```csharp\n(.*?)```", RegexOptions.Singleline))
            .Select(m => Normalise(m.Groups[1].Value.Split('\n'))).ToList();
        var source = File.ReadAllLines(Path.Combine(root, "tests", "Lumen.Tests", "Docs", "ReadmeExamples.cs"));
        var examples = new Dictionary<string, string>();
        for (int i = 0; i < source.Length; i++)
        {
            var start = Regex.Match(source[i], @"^\s*// README:(\S+)");
            if (!start.Success) continue;
            int end = Array.FindIndex(source, i + 1, l => l.Trim() == "// END");
            examples[start.Groups[1].Value] = Normalise(source[(i + 1)..end]);
        }
        Assert.True(examples.Count >= 5, "the examples file has its regions");
        foreach (string block in readme)
            Assert.True(examples.ContainsValue(block), "a README C# block is not one of ReadmeExamples' regions (copy it there so it compiles):\n" + block);
        foreach (var (name, example) in examples)
            Assert.True(readme.Contains(example), $"ReadmeExamples region '{name}' is not in the README");
    }
}
