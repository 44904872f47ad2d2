"""fastai's transfer-learning recipe in plain PyTorch, cross-validated: the baseline of `bench … quality`.

For each fold of a folds file (path,label,fold, written by the C# bench with Lumen's stratified k-fold
split), trains on the other folds and scores the held-out one, with what `vision_learner(dls,
resnet18).fine_tune(epochs)` does in fastai 2.7:
  - item transform: Resize(size) (random crop of the largest square in training, centre crop else);
  - batch augmentation as aug_transforms(): horizontal flip, rotation ±10°, zoom 1–1.1, perspective
    warp 0.2 (each affine with p 0.75), brightness/contrast 0.2 (p 0.75); torchvision's transforms
    stand in for fastai's GPU ones;
  - the same ImageNet ResNet-18 body as Lumen (the ML.NET export, [2,2,2,3] blocks, BGR 0..255
    minus channel means), read from a state dict Lumen writes;
  - fastai's head: concat pooling, BatchNorm, dropout 0.25, linear 512, ReLU, BatchNorm, dropout 0.5,
    linear (no biases in the linears);
  - layer groups (stem..layer2, layer3..layer4, head); Adam with decoupled weight decay 0.01 (none on
    BatchNorm and biases), betas (0.9, 0.99), eps 1e-5; bs 32 with drop_last in training;
  - fine_tune: frozen body (BatchNorm trainable) for freeze_epochs of one-cycle over slice(base_lr)
    with pct_start 0.99; then unfrozen, one-cycle over slice(base_lr/2/100, base_lr/2), pct_start 0.3,
    div 5; momentum 0.95→0.85→0.95, lr from lr/div to lr/1e5 (cosine).
Prints one `fold=k accuracy=… macro_f1=… mcc=… seconds=…` line per fold and a `mean` line.

    /usr/bin/python3 bench/python/fastai_recipe.py --folds-file folds.csv --body body.pth --norm norm.json
"""
import argparse
import csv
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms as T
from PIL import Image
from torchvision.models.resnet import BasicBlock, ResNet

from fine_tune import Normalize, freeze, one_cycle, optimizer_for, spread


class Images(torch.utils.data.Dataset):
    def __init__(self, rows, classes, transform):
        self.rows, self.transform = rows, transform
        self.index = {c: i for i, c in enumerate(classes)}

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        path, label = self.rows[i]
        return self.transform(Image.open(path).convert("RGB")), self.index[label]


class ConcatPool(nn.Module):
    def forward(self, x):
        return torch.cat([nn.functional.adaptive_max_pool2d(x, 1), nn.functional.adaptive_avg_pool2d(x, 1)], 1).flatten(1)


def model_for(classes, body_state):
    body = ResNet(BasicBlock, [2, 2, 2, 3])
    missing, unexpected = body.load_state_dict(body_state, strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected, (missing, unexpected)
    body = nn.Sequential(*list(body.children())[:-2])
    head = nn.Sequential(ConcatPool(), nn.BatchNorm1d(1024), nn.Dropout(0.25), nn.Linear(1024, 512, bias=False), nn.ReLU(inplace=True),
                         nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, classes, bias=False))
    for m in head:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
    model = nn.Sequential(body, head)
    groups = [list(body[:6].parameters()), list(body[6:].parameters()), list(head.parameters())]
    return model, groups


def scores(pred, true, classes):
    m = np.zeros((classes, classes))
    for p, t in zip(pred, true):
        m[t, p] += 1
    acc = np.trace(m) / m.sum()
    f1s = []
    for c in range(classes):
        tp, fp, fn = m[c, c], m[:, c].sum() - m[c, c], m[c, :].sum() - m[c, c]
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    t, p, c, s = m.sum(1), m.sum(0), np.trace(m), m.sum()
    denom = math.sqrt((s * s - (p * p).sum()) * (s * s - (t * t).sum()))
    mcc = 0.0 if denom == 0 else (c * s - (t * p).sum()) / denom
    return acc, float(np.mean(f1s)), mcc


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--folds-file", required=True)
    a.add_argument("--body", required=True, help="state dict of the ResNet-18 body (torch.load-able)")
    a.add_argument("--norm", required=True, help="json: mean, std, scale, bgr")
    a.add_argument("--size", type=int, default=224)
    a.add_argument("--epochs", type=int, default=4)
    a.add_argument("--freeze-epochs", type=int, default=1)
    a.add_argument("--lr", type=float, default=2e-3)
    a.add_argument("--bs", type=int, default=32)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--seed", type=int, default=42)
    a.add_argument("--only-fold", type=int, default=0, help="run just this 1-based fold (0: all)")
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    rows = list(csv.DictReader(open(args.folds_file)))
    classes = sorted({r["label"] for r in rows})
    folds = sorted({int(r["fold"]) for r in rows})
    body_state = torch.load(args.body)
    norm = Normalize(json.load(open(args.norm)))
    train_tf = T.Compose([
        T.Resize(args.size), T.RandomCrop(args.size),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.RandomAffine(10, scale=(1.0, 1.1))], p=0.75),
        T.RandomPerspective(0.2, p=0.75),
        T.RandomApply([T.ColorJitter(brightness=0.2, contrast=0.2)], p=0.75),
        T.ToTensor(), norm])
    valid_tf = T.Compose([T.Resize(args.size), T.CenterCrop(args.size), T.ToTensor(), norm])
    results = []
    for fold in folds:
        if args.only_fold and fold != args.only_fold:
            continue
        torch.manual_seed(args.seed + fold)
        start = time.time()
        train = [(r["path"], r["label"]) for r in rows if int(r["fold"]) != fold]
        valid = [(r["path"], r["label"]) for r in rows if int(r["fold"]) == fold]
        train_dl = torch.utils.data.DataLoader(Images(train, classes, train_tf), batch_size=args.bs, shuffle=True, drop_last=True, num_workers=1)
        valid_dl = torch.utils.data.DataLoader(Images(valid, classes, valid_tf), batch_size=64, num_workers=1)
        model, groups = model_for(len(classes), body_state)
        opt = optimizer_for(model, groups)
        if args.freeze_epochs:
            freeze(model, groups, True)
            one_cycle(model, opt, train_dl, args.freeze_epochs, spread(None, args.lr), pct_start=0.99)
        freeze(model, groups, False)
        base = args.lr / 2
        one_cycle(model, opt, train_dl, args.epochs, spread(base / 100, base), pct_start=0.3, div=5.0)
        model.eval()
        pred, true = [], []
        with torch.no_grad():
            for x, y in valid_dl:
                pred += model(x).argmax(1).tolist()
                true += y.tolist()
        acc, f1, mcc = scores(pred, true, len(classes))
        results.append((acc, f1, mcc))
        print(f"fold={fold} accuracy={acc:.4f} macro_f1={f1:.4f} mcc={mcc:.4f} seconds={time.time() - start:.0f}", flush=True)
    r = np.array(results)
    sd = r.std(0, ddof=1) if len(r) > 1 else np.zeros(3)
    print(f"mean accuracy={r[:, 0].mean():.4f}±{sd[0]:.4f} macro_f1={r[:, 1].mean():.4f}±{sd[1]:.4f} mcc={r[:, 2].mean():.4f}±{sd[2]:.4f}", flush=True)


if __name__ == "__main__":
    main()
