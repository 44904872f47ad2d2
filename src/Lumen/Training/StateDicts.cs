using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;

namespace Lumen.Training;

/// <summary>Helpers for named tensor states (model weights, optimiser state).</summary>
public static class StateDicts
{
    /// <summary>Detached copies of every tensor, outside any dispose scope.</summary>
    public static Dictionary<string, Tensor> Clone(IReadOnlyDictionary<string, Tensor> state) =>
        state.ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());

    /// <summary>Copies <paramref name="state"/> into <paramref name="module"/>; every key must match in name and shape.</summary>
    /// <exception cref="LumenException">A key is missing, unexpected or has another shape.</exception>
    public static void CopyInto(Module module, IReadOnlyDictionary<string, Tensor> state, string source = "the saved state")
    {
        var target = module.state_dict();
        var missing = target.Keys.Where(k => !state.ContainsKey(k)).ToList();
        var unexpected = state.Keys.Where(k => !target.ContainsKey(k)).ToList();
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new LumenException($"{source} does not match the model: {missing.Count} missing (e.g. {missing.FirstOrDefault()}), {unexpected.Count} unexpected (e.g. {unexpected.FirstOrDefault()})");
        using var noGrad = no_grad();
        foreach (var (key, t) in target)
        {
            var s = state[key];
            if (!t.shape.SequenceEqual(s.shape))
                throw new LumenException($"{source} does not match the model: '{key}' has shape [{string.Join(",", s.shape)}], expected [{string.Join(",", t.shape)}]");
            t.copy_(s);
        }
    }
}
