using System.Diagnostics;
using System.Reflection;

namespace Lumen.Tests.Support;

/// <summary>
/// Runs a static test method in a fresh process of this test assembly: for checks that depend on a
/// process's whole state (glibc's allocator after hours of other tests, a thread forcing full
/// collections that would stall every test running beside it). The method passes by returning and
/// fails by throwing; its exception text comes back in the assertion.
/// </summary>
public static class OwnProcess
{
    private const string Flag = "--own-process";

    /// <summary>Runs <paramref name="check"/> (a static method of a test class) in its own process.</summary>
    public static void Run(Action check, TimeSpan? timeout = null)
    {
        MethodInfo method = check.Method;
        if (!method.IsStatic || method.DeclaringType is null)
            throw new ArgumentException("OwnProcess.Run takes a static method of a test class, not a lambda", nameof(check));
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "exec", typeof(OwnProcess).Assembly.Location, Flag, method.DeclaringType.FullName!, method.Name })
            psi.ArgumentList.Add(a);
        var (code, output) = LumenProcess.Run(psi, timeout ?? TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"{method.DeclaringType.Name}.{method.Name} failed in its own process (exit {code}):\n{output}");
    }

    /// <summary>The entry point of the child: finds the named static method and runs it.</summary>
    public static int Main(string[] args)
    {
        if (args.Length != 3 || args[0] != Flag)
        {
            Console.Error.WriteLine($"usage: dotnet exec Lumen.Tests.dll {Flag} <type> <static method> (the tests run through dotnet test)");
            return 2;
        }
        var type = typeof(OwnProcess).Assembly.GetType(args[1], throwOnError: true)!;
        var method = type.GetMethod(args[2], BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic)
            ?? throw new MissingMethodException(args[1], args[2]);
        try
        {
            method.Invoke(null, null);
            return 0;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            Console.Error.WriteLine(e.InnerException);
            return 1;
        }
    }
}
