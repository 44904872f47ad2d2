"""Reference values for Lumen's AdamW (tests/Lumen.Tests/TrainingMathTests.cs).

Runs torch.optim.AdamW with fastai's settings (betas (0.9, 0.99), eps 1e-5, decoupled weight decay)
for a few steps on a matrix (weight decay 0.01) and a vector (no weight decay, as fastai's
wd_bn_bias=False), with a different learning rate and beta1 per step as one-cycle sets them, and
writes the parameters, the gradients fed at each step and the parameters after each step.

    /usr/bin/python3 tests/Lumen.Tests/Fixtures/adamw_reference.py > tests/Lumen.Tests/Fixtures/adamw-reference.json

Made with Debian 12's python3-torch (PyTorch 1.13).
"""
import json
import torch

torch.manual_seed(0)
matrix = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
vector = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
optimizer = torch.optim.AdamW(
    [{"params": [matrix], "weight_decay": 0.01}, {"params": [vector], "weight_decay": 0.0}],
    lr=1e-3, betas=(0.9, 0.99), eps=1e-5)
schedule = [(1e-2, 0.95), (3e-2, 0.9), (2e-2, 0.85), (5e-3, 0.9), (1e-3, 0.95)]
out = {"torch": torch.__version__, "initial": {"matrix": matrix.detach().flatten().tolist(), "vector": vector.detach().tolist()}, "steps": []}
for lr, beta1 in schedule:
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["betas"] = (beta1, 0.99)
    g_matrix = torch.randn(3, 4, dtype=torch.float64)
    g_vector = torch.randn(4, dtype=torch.float64)
    matrix.grad, vector.grad = g_matrix.clone(), g_vector.clone()
    optimizer.step()
    out["steps"].append({
        "lr": lr, "beta1": beta1,
        "grad": {"matrix": g_matrix.flatten().tolist(), "vector": g_vector.tolist()},
        "after": {"matrix": matrix.detach().flatten().tolist(), "vector": vector.detach().tolist()},
    })
print(json.dumps(out, indent=1))
