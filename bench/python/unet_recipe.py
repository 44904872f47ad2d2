"""fastai's unet_learner recipe in plain PyTorch, cross-validated: the baseline of `bench … segment`.

For each fold of a folds file (path,mask,fold, written by the C# bench with Lumen's k-fold split),
trains on the other folds and scores the held-out one, with what `unet_learner(dls, resnet18)
.fine_tune(epochs)` does in fastai 2.7:
  - the same ImageNet ResNet-18 body as Lumen (the ML.NET export, [2,2,2,3] blocks, BGR 0..255 minus
    channel means), read from a state dict Lumen writes;
  - DynamicUnet: skips at every change of size (stem ReLU, layer1, layer2, layer3), BatchNorm + ReLU +
    a middle block (conv to 2x channels and back), UnetBlocks (PixelShuffle_ICNR upsampling, BatchNorm
    on the skip, concat, ReLU, two 3x3 ConvLayers), a last PixelShuffle_ICNR, ResizeToOrig, last_cross
    (the input concatenated, a ResBlock) and a 1x1 ConvLayer to the classes; no self-attention;
  - item transform: short side resized to `size`, a random square crop in training (image bilinear,
    mask nearest); batch augmentation as aug_transforms(): horizontal flip, rotation ±10°, zoom 1–1.1
    (p 0.75), brightness/contrast 0.2 (p 0.75), the geometry applied to the mask with nearest sampling;
  - loss CrossEntropyLossFlat(axis=1); layer groups (stem..layer2, layer3..layer4, decoder); Adam with
    decoupled weight decay 0.01 (none on BatchNorm and biases), betas (0.9, 0.99), eps 1e-5;
  - fine_tune: frozen body for freeze_epochs of one-cycle at slice(lr) with pct_start 0.99, then
    unfrozen, one-cycle over slice(lr/2/100, lr/2), pct_start 0.3, div 5.
Scoring is Lumen's: each held-out image is seen whole (short side `size`), its probabilities are
resized (bilinear) to the image's own size, each pixel takes the argmax, and the mask file is
thresholded at half intensity; Dice per image (1 when both are empty) and over all pixels.
Prints one `fold=k dice_per_image=… dice=… train_img_s=… predict_img_s=… seconds=…` line per fold.

    /usr/bin/python3 bench/python/unet_recipe.py --folds-file folds.csv --body body.pth --norm norm.json
"""
import argparse
import csv
import json
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.models.resnet import BasicBlock, ResNet

from fine_tune import Normalize, freeze, one_cycle, optimizer_for, spread


def read_mask(path):
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.uint8)
    cut = 1 if grey.max() <= 1 else 128
    return (grey >= cut).astype(np.int64)


def short_side(image, mask, size):
    w, h = image.size
    f = size / min(w, h)
    nw, nh = max(size, round(w * f)), max(size, round(h * f))
    image = image.resize((nw, nh), Image.BILINEAR)
    mask = None if mask is None else Image.fromarray(mask.astype(np.uint8)).resize((nw, nh), Image.NEAREST)
    return image, mask


class Train(torch.utils.data.Dataset):
    def __init__(self, rows, size, norm):
        self.rows, self.size, self.norm = rows, size, norm

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        path, mask_path = self.rows[i]
        image, mask = short_side(Image.open(path).convert("RGB"), read_mask(mask_path), self.size)
        w, h = image.size
        left, top = random.randint(0, w - self.size), random.randint(0, h - self.size)
        image = image.crop((left, top, left + self.size, top + self.size))
        mask = mask.crop((left, top, left + self.size, top + self.size))
        if random.random() < 0.5:
            image, mask = TF.hflip(image), TF.hflip(mask)
        if random.random() < 0.75:
            angle, scale = random.uniform(-10, 10), random.uniform(1.0, 1.1)
            image = TF.affine(image, angle, [0, 0], scale, [0.0], interpolation=TF.InterpolationMode.BILINEAR)
            mask = TF.affine(mask, angle, [0, 0], scale, [0.0], interpolation=TF.InterpolationMode.NEAREST)
        if random.random() < 0.75:
            image = TF.adjust_brightness(image, random.uniform(0.8, 1.2))
            image = TF.adjust_contrast(image, random.uniform(0.8, 1.2))
        return self.norm(TF.to_tensor(image)), torch.from_numpy(np.asarray(mask, dtype=np.int64))


def conv_layer(ni, nf, ks=3, act=True, zero_bn=False):
    conv = nn.Conv2d(ni, nf, ks, padding=ks // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight)
    bn = nn.BatchNorm2d(nf)
    if zero_bn:
        nn.init.zeros_(bn.weight)
    return nn.Sequential(conv, bn, nn.ReLU()) if act else nn.Sequential(conv, bn)


class PixelShuffleICNR(nn.Module):
    def __init__(self, ni, nf):
        super().__init__()
        self.conv = conv_layer(ni, nf * 4, ks=1)
        base = torch.empty(nf, ni, 1, 1)
        nn.init.kaiming_normal_(base)
        with torch.no_grad():
            self.conv[0].weight.copy_(base.repeat_interleave(4, 0))
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.conv(x))


class UnetBlock(nn.Module):
    def __init__(self, up_in, x_in, final_div):
        super().__init__()
        self.shuf = PixelShuffleICNR(up_in, up_in // 2)
        self.bn = nn.BatchNorm2d(x_in)
        ni = up_in // 2 + x_in
        nf = ni if final_div else ni // 2
        self.conv1, self.conv2 = conv_layer(ni, nf), conv_layer(nf, nf)
        self.out = nf

    def forward(self, up, skip):
        x = self.shuf(up)
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(x, skip.shape[-2:], mode="nearest")
        return self.conv2(self.conv1(F.relu(torch.cat([x, self.bn(skip)], 1))))


class ResBlock(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.conv1, self.conv2 = conv_layer(n, n), conv_layer(n, n, act=False, zero_bn=True)

    def forward(self, x):
        return F.relu(self.conv2(self.conv1(x)) + x)


class DynamicUnet(nn.Module):
    def __init__(self, body_state, classes):
        super().__init__()
        resnet = ResNet(BasicBlock, [2, 2, 2, 3])
        missing, unexpected = resnet.load_state_dict(body_state, strict=False)
        assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected, (missing, unexpected)
        self.encoder = nn.ModuleList(list(resnet.children())[:-2])
        shapes, x = [], torch.zeros(1, 3, 128, 128)
        self.encoder.eval()
        with torch.no_grad():
            for layer in self.encoder:
                x = layer(x)
                shapes.append(x.shape)
        self.encoder.train()
        self.skips = [i for i in range(len(shapes) - 1) if shapes[i][-1] != shapes[i + 1][-1]]
        ni = shapes[-1][1]
        self.middle = nn.Sequential(nn.BatchNorm2d(ni), nn.ReLU(), conv_layer(ni, ni * 2), conv_layer(ni * 2, ni))
        blocks, up = [], ni
        for k, idx in enumerate(reversed(self.skips)):
            block = UnetBlock(up, shapes[idx][1], final_div=k != len(self.skips) - 1)
            blocks.append(block)
            up = block.out
        self.blocks = nn.ModuleList(blocks)
        self.final = PixelShuffleICNR(up, up)
        self.cross = ResBlock(up + 3)
        self.head = conv_layer(up + 3, classes, ks=1, act=False)

    def forward(self, inp):
        skips, x = [], inp
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i in self.skips:
                skips.append(x)
        x = self.middle(x)
        for block, skip in zip(self.blocks, reversed(skips)):
            x = block(x, skip)
        x = self.final(x)
        if x.shape[-2:] != inp.shape[-2:]:
            x = F.interpolate(x, inp.shape[-2:], mode="nearest")
        return self.head(self.cross(torch.cat([x, inp], 1)))

    def groups(self):
        enc = list(self.encoder)
        early = [p for m in enc[:6] for p in m.parameters()]
        late = [p for m in enc[6:] for p in m.parameters()]
        rest = [p for n, p in self.named_parameters() if not n.startswith("encoder.")]
        return [early, late, rest]


def score(model, rows, size, norm):
    """Per image (intersection, predicted, true) foreground pixel counts at the image's own size."""
    model.eval()
    counts = []
    with torch.no_grad():
        for path, mask_path in rows:
            image = Image.open(path).convert("RGB")
            w, h = image.size
            frame, _ = short_side(image, None, size)
            logits = model(norm(TF.to_tensor(frame)).unsqueeze(0))
            probs = F.interpolate(logits.softmax(1), (h, w), mode="bilinear", align_corners=False)
            pred = probs.argmax(1)[0].numpy() == 1
            true = read_mask(mask_path) == 1
            counts.append((int((pred & true).sum()), int(pred.sum()), int(true.sum())))
    return counts


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--folds-file", required=True)
    a.add_argument("--body", required=True)
    a.add_argument("--norm", required=True)
    a.add_argument("--size", type=int, default=128)
    a.add_argument("--epochs", type=int, default=8)
    a.add_argument("--freeze-epochs", type=int, default=1)
    a.add_argument("--lr", type=float, default=2e-3)
    a.add_argument("--bs", type=int, default=16)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--seed", type=int, default=42)
    a.add_argument("--only-fold", type=int, default=0)
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    rows = list(csv.DictReader(open(args.folds_file)))
    folds = sorted({int(r["fold"]) for r in rows})
    body_state = torch.load(args.body)
    norm = Normalize(json.load(open(args.norm)))
    results = []
    for fold in folds:
        if args.only_fold and fold != args.only_fold:
            continue
        torch.manual_seed(args.seed + fold)
        random.seed(args.seed + fold)
        start = time.time()
        train = [(r["path"], r["mask"]) for r in rows if int(r["fold"]) != fold]
        valid = [(r["path"], r["mask"]) for r in rows if int(r["fold"]) == fold]
        loader = torch.utils.data.DataLoader(Train(train, args.size, norm), batch_size=args.bs, shuffle=True, drop_last=True, num_workers=1)
        model = DynamicUnet(body_state, 2)
        groups = model.groups()
        opt = optimizer_for(model, groups)
        trained = 0
        if args.freeze_epochs:
            freeze(model, groups, True)
            trained += one_cycle(model, opt, loader, args.freeze_epochs, spread(None, args.lr), pct_start=0.99)
        freeze(model, groups, False)
        base = args.lr / 2
        trained += one_cycle(model, opt, loader, args.epochs, spread(base / 100, base), pct_start=0.3, div=5.0)
        train_seconds = time.time() - start
        predict_start = time.time()
        counts = score(model, valid, args.size, norm)
        predict_seconds = time.time() - predict_start
        per_image = np.mean([1.0 if p + t == 0 else 2 * i / (p + t) for i, p, t in counts])
        i, p, t = np.array(counts).sum(0)
        overall = 1.0 if p + t == 0 else 2 * i / (p + t)
        results.append((per_image, overall))
        print(f"fold={fold} dice_per_image={per_image:.4f} dice={overall:.4f} train_img_s={trained / train_seconds:.2f} "
              f"predict_img_s={len(valid) / predict_seconds:.2f} seconds={time.time() - start:.0f}", flush=True)
    r = np.array(results)
    sd = r.std(0, ddof=1) if len(r) > 1 else np.zeros(2)
    print(f"mean dice_per_image={r[:, 0].mean():.4f}±{sd[0]:.4f} dice={r[:, 1].mean():.4f}±{sd[1]:.4f}", flush=True)


if __name__ == "__main__":
    main()
