using Spectre.Console;

namespace Lumen.Cli.Terminal;

/// <summary>
/// The CLI's only way to print messages. Text is written as plain text, never parsed as console
/// markup: file names, class names and exception messages may hold brackets ('[,is_valid]',
/// 'scan [1].jpg') that Spectre.Console would otherwise read as styles and crash on.
/// </summary>
internal static class Say
{
    /// <summary>One line of plain text on standard output.</summary>
    public static void Line(string text) => AnsiConsole.Write(new Text(text + "\n"));

    /// <summary>One line in green (a result the user was waiting for).</summary>
    public static void Success(string text) => AnsiConsole.Write(new Text(text + "\n", new Style(Color.Green)));

    /// <summary>A warning line: a yellow "warning:" prefix, then the text.</summary>
    public static void Warning(string text) => Prefixed("warning: ", Color.Yellow, text);

    /// <summary>A line with a coloured prefix such as "interrupted: ".</summary>
    public static void Prefixed(string prefix, Color color, string text)
    {
        AnsiConsole.Write(new Text(prefix, new Style(color)));
        Line(text);
    }
}
