"""fastai's fine_tune in plain PyTorch, shared by the baselines (fastai_recipe.py, unet_recipe.py, fcos_recipe.py):
Lumen's input normalisation of the ML.NET weights, AdamW as fastai sets it up, freezing by layer
group, one-cycle and fastai's slice() spread of learning rates over the groups."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Normalize:
    """Lumen's normalisation of these weights: optional RGB→BGR, scale to 0..255, minus means, / std."""

    def __init__(self, norm):
        self.mean = torch.tensor(norm["mean"]).view(3, 1, 1)
        self.std = torch.tensor(norm["std"]).view(3, 1, 1)
        self.scale = norm["scale"]
        self.bgr = norm["bgr"]

    def __call__(self, x):
        if self.bgr:
            x = x.flip(0)
        return (x * self.scale - self.mean) / self.std


def _batch_norm_params(model):
    return {id(p) for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for p in m.parameters()}


def optimizer_for(model, groups, wd=0.01):
    """Adam with decoupled weight decay (none on BatchNorm and biases), betas (0.9, 0.99), eps 1e-5; two param groups per layer group."""
    bn_or_bias = _batch_norm_params(model) | {id(p) for n, p in model.named_parameters() if n.endswith("bias")}
    param_groups = []
    for g in groups:
        param_groups.append({"params": [p for p in g if id(p) not in bn_or_bias], "weight_decay": wd})
        param_groups.append({"params": [p for p in g if id(p) in bn_or_bias], "weight_decay": 0.0})
    return torch.optim.AdamW(param_groups, lr=1e-3, betas=(0.9, 0.99), eps=1e-5)


def freeze(model, groups, frozen):
    """Frozen: only the last group and BatchNorm layers train (fastai's train_bn)."""
    bn = _batch_norm_params(model)
    for i, g in enumerate(groups):
        for p in g:
            p.requires_grad = (not frozen) or i == len(groups) - 1 or id(p) in bn


def cos(start, end, pct):
    return end + (start - end) / 2 * (1 + math.cos(math.pi * pct))


def cross_entropy(model, x, y):
    """The classifiers' and U-Net's loss: cross-entropy per image, or per pixel for N×C×H×W outputs."""
    return F.cross_entropy(model(x), y)


def one_cycle(model, opt, loader, epochs, lrs, pct_start, div=25.0, div_final=1e5, loss=cross_entropy):
    """fastai's fit_one_cycle, minimising loss(model, x, y) (default cross_entropy); returns the images trained on."""
    total, step, images = epochs * len(loader), 0, 0
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            pct = step / total
            for gi, group in enumerate(opt.param_groups):
                top = lrs[gi // 2]
                if pct < pct_start:
                    lr, mom = cos(top / div, top, pct / pct_start), cos(0.95, 0.85, pct / pct_start)
                else:
                    p = (pct - pct_start) / (1 - pct_start)
                    lr, mom = cos(top, top / div_final, p), cos(0.85, 0.95, p)
                group["lr"], group["betas"] = lr, (mom, 0.99)
            opt.zero_grad()
            loss(model, x, y).backward()
            opt.step()
            step += 1
            images += len(x)
    return images


def spread(lo, hi, n=3):
    """fastai's slice(lo, hi) over n groups: geometric; slice(hi) alone is hi/10 for all but the last."""
    if lo is None:
        return [hi / 10] * (n - 1) + [hi]
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
