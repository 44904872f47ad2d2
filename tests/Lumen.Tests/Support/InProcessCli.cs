namespace Lumen.Tests.Support;

/// <summary>
/// Runs the real <c>lumen</c> entry point in this process, capturing standard error. Callers belong
/// to the non-parallel <c>ConsoleCollection</c>: redirecting Console.Error is process-wide.
/// </summary>
public static class InProcessCli
{
    public static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        TextWriter original = Console.Error;
        Console.SetError(error);
        try
        {
            return (Lumen.Cli.Program.Main(args), error.ToString());
        }
        finally
        {
            Console.SetError(original);
        }
    }
}
