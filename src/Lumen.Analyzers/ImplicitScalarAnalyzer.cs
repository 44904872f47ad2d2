using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace Lumen.Analyzers;

/// <summary>
/// Refuses TorchSharp Scalars that nobody disposes. A Scalar made implicitly (from a number, or
/// inside a TorchSharp overload that fills in a default such as <c>alpha = 1</c>) is only freed by
/// the finalizer thread, and TorchSharp does not keep it alive across the native call: a GC during
/// that call frees the Scalar while LibTorch still reads it ("Unknown scalar type", "For integral
/// input tensors, argument alpha must not be a floating point number"). Lumen's code passes explicit
/// Scalars held in <c>using</c> declarations, or cached constants.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ImplicitScalarAnalyzer : DiagnosticAnalyzer
{
    /// <summary>A number (or other value) converted to a Scalar or Tensor without a visible owner.</summary>
    public const string ImplicitConversionId = "LUMEN001";

    /// <summary>A TorchSharp overload that makes a Scalar of its own (a default alpha, start or step).</summary>
    public const string HiddenScalarId = "LUMEN002";

    private static readonly DiagnosticDescriptor ImplicitConversion = new(
        ImplicitConversionId,
        "Implicit TorchSharp Scalar or Tensor",
        "'{0}' becomes a TorchSharp {1} implicitly and is freed by the finalizer thread, possibly while LibTorch still reads it; make it explicitly and hold it in a using declaration, or use a cached one",
        "Reliability",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    private static readonly DiagnosticDescriptor HiddenScalar = new(
        HiddenScalarId,
        "TorchSharp overload that makes its own Scalar",
        "'{0}' makes a Scalar inside TorchSharp that is freed by the finalizer thread, possibly while LibTorch still reads it; call the overload that takes every Scalar ({1}) and pass explicit ones",
        "Reliability",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics => ImmutableArray.Create(ImplicitConversion, HiddenScalar);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterOperationAction(AnalyzeConversion, OperationKind.Conversion);
        context.RegisterOperationAction(AnalyzeInvocation, OperationKind.Invocation);
        context.RegisterOperationAction(AnalyzeOperator, OperationKind.BinaryOperator);
    }

    private static bool IsScalar(ITypeSymbol? type) =>
        type is { Name: "Scalar", ContainingNamespace: { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true } };

    /// <summary>A TorchSharp tensor (<c>torch.Tensor</c>), which numbers and arrays also convert to implicitly.</summary>
    private static bool IsTensor(ITypeSymbol? type) =>
        type is { Name: "Tensor", ContainingType: { Name: "torch", ContainingNamespace: { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true } } };

    private static bool IsTorchSharp(ISymbol symbol)
    {
        for (var ns = symbol.ContainingNamespace; ns is not null; ns = ns.ContainingNamespace)
            if (ns.ContainingNamespace is { IsGlobalNamespace: true }) return ns.Name == "TorchSharp";
        return false;
    }

    private static void AnalyzeConversion(OperationAnalysisContext context)
    {
        var conversion = (IConversionOperation)context.Operation;
        if (!conversion.IsImplicit || !conversion.Conversion.IsUserDefined) return;
        bool toScalar = IsScalar(conversion.Type) && !IsScalar(conversion.Operand.Type);
        bool toTensor = IsTensor(conversion.Type) && !IsTensor(conversion.Operand.Type);
        if (!toScalar && !toTensor) return;
        context.ReportDiagnostic(Diagnostic.Create(ImplicitConversion, conversion.Syntax.GetLocation(), conversion.Operand.Syntax.ToString(), toScalar ? "Scalar" : "Tensor"));
    }

    /// <summary>
    /// An overload is a shortcut when a sibling of the same name starts with the same required
    /// parameters and adds at least one Scalar: TorchSharp implements the shortcut by calling the
    /// sibling with a number (<c>add_(Tensor)</c> is <c>add_(target, 1)</c>, <c>arange(stop)</c> is
    /// <c>arange(0, stop, 1)</c>).
    /// </summary>
    private static IMethodSymbol? FullerSibling(IMethodSymbol method)
    {
        if (!IsTorchSharp(method)) return null;
        var required = method.Parameters.Where(p => !p.IsOptional).Select(p => p.Type).ToArray();
        foreach (var sibling in method.ContainingType.GetMembers(method.Name).OfType<IMethodSymbol>())
        {
            if (SymbolEqualityComparer.Default.Equals(sibling, method.OriginalDefinition)) continue;
            var siblingRequired = sibling.Parameters.Where(p => !p.IsOptional).Select(p => p.Type).ToArray();
            if (siblingRequired.Length <= required.Length) continue;
            bool prefix = required.Select((t, i) => SymbolEqualityComparer.Default.Equals(t, siblingRequired[i])).All(same => same);
            if (prefix && siblingRequired.Skip(required.Length).Any(IsScalar)) return sibling;
        }
        return null;
    }

    private static void AnalyzeInvocation(OperationAnalysisContext context)
    {
        var invocation = (IInvocationOperation)context.Operation;
        var sibling = FullerSibling(invocation.TargetMethod);
        if (sibling is null) return;
        string parameters = string.Join(", ", sibling.Parameters.Where(p => !p.IsOptional).Select(p => p.Name));
        context.ReportDiagnostic(Diagnostic.Create(HiddenScalar, invocation.Syntax.GetLocation(), invocation.TargetMethod.Name, parameters));
    }

    /// <summary>
    /// TorchSharp's operators make Scalars of their own: <c>+</c> calls <c>add</c> without an alpha
    /// (measured: <c>a + b</c> under forced GCs fails within 30,000 calls; <c>a - b</c> makes none),
    /// and every operator taking a plain number (<c>t * 2.0</c>, <c>t / 127</c>) converts it inside.
    /// </summary>
    private static void AnalyzeOperator(OperationAnalysisContext context)
    {
        var binary = (IBinaryOperation)context.Operation;
        if (binary.OperatorMethod is not { } method || !IsTorchSharp(method)) return;
        bool numberOperand = method.Parameters.Any(p => p.Type.SpecialType is >= SpecialType.System_SByte and <= SpecialType.System_Double);
        if (binary.OperatorKind != BinaryOperatorKind.Add && !numberOperand) return;
        string full = binary.OperatorKind switch
        {
            BinaryOperatorKind.Add => "add(other, alpha)",
            BinaryOperatorKind.Subtract => "sub(other, alpha)",
            BinaryOperatorKind.Multiply => "mul(scalar)",
            BinaryOperatorKind.Divide => "div(scalar)",
            _ => "the method with a Scalar",
        };
        context.ReportDiagnostic(Diagnostic.Create(HiddenScalar, binary.Syntax.GetLocation(), "operator " + OperatorText(binary.OperatorKind), full));
    }

    private static string OperatorText(BinaryOperatorKind kind) => kind switch
    {
        BinaryOperatorKind.Add => "+",
        BinaryOperatorKind.Subtract => "-",
        BinaryOperatorKind.Multiply => "*",
        BinaryOperatorKind.Divide => "/",
        BinaryOperatorKind.Remainder => "%",
        _ => kind.ToString(),
    };
}
