using System.ComponentModel;
using Lumen.Data.Datasets;
using Spectre.Console;
using Spectre.Console.Cli;
using Lumen.Cli.Terminal;

namespace Lumen.Cli.Commands;

/// <summary><c>lumen datasets</c>: the catalogue and what is cached.</summary>
internal sealed class DatasetsListCommand : Command<DatasetsListCommand.Settings>
{
    internal sealed class Settings : CommandSettings { }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var store = new DatasetStore();
        var table = new Table().AddColumns("name", "description", "archive", "cached");
        foreach (var entry in DatasetCatalog.All)
            table.AddRow(entry.Name, Markup.Escape(entry.Description), entry.Bundled is null ? $"~{entry.ApproximateBytes / 1e9:F1} GB" : "bundled",
                store.Cached(entry) is { } c ? Markup.Escape(c.Folder) : "[grey]no[/]");
        AnsiConsole.Write(table);
        Say.Line($"cache: {store.Root} (LUMEN_HOME moves it). 'lumen datasets get <name>' downloads; any command taking a data folder also takes a name.");
        return 0;
    }
}

/// <summary><c>lumen datasets get &lt;name&gt;</c>.</summary>
internal sealed class DatasetsGetCommand : Command<DatasetsGetCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<name>")]
        [Description("A catalogue name (see 'lumen datasets')")]
        public string Name { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var entry = DatasetCommands.Entry(settings.Name);
        var cached = ConsoleProgress.Run(progress => new DatasetStore().Get(entry, progress));
        Say.Line($"{entry.Name} is ready in {cached.Folder}");
        return 0;
    }
}

/// <summary><c>lumen datasets add &lt;name&gt; &lt;archive&gt;</c>: import an archive downloaded elsewhere.</summary>
internal sealed class DatasetsAddCommand : Command<DatasetsAddCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<name>")]
        [Description("The catalogue name the archive belongs to (see 'lumen datasets')")]
        public string Name { get; init; } = "";

        [CommandArgument(1, "<archive>")]
        [Description("The .zip or .tgz you downloaded")]
        public string Archive { get; init; } = "";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var entry = DatasetCommands.Entry(settings.Name);
        var cached = ConsoleProgress.Run(progress => new DatasetStore().Add(entry, settings.Archive, progress));
        Say.Line($"{entry.Name} imported; images in {cached.Folder}");
        return 0;
    }
}

internal static class DatasetCommands
{
    public static DatasetEntry Entry(string name) => DatasetCatalog.Find(name)
        ?? throw new LumenException($"unknown dataset '{name}'; known: {string.Join(", ", DatasetCatalog.All.Select(e => e.Name))}");
}
