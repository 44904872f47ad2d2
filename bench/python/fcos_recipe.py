"""torchvision's own FCOS on a ResNet-18 feature pyramid, cross-validated: the baseline of `bench … detect`.

For each fold of a folds file (JSON written by the C# bench with Lumen's k-fold split: every image's
path, fold, size and boxes), trains on the other folds and writes the held-out images' boxes, found
at each image's own size, to detections-fold<k>.json beside the folds file; the C# bench scores both
sides with the same COCO average precision. What it trains:
  - torchvision.models.detection.FCOS (its head: four GroupNorm convolutions per tower, focal, GIoU
    and centre-ness losses, centre sampling, NMS 0.6, at most 100 boxes) on BackboneWithFPN over
    layer2-layer4 of the same ImageNet ResNet-18 as Lumen (the ML.NET export, [2,2,2,3] blocks) with
    LastLevelP6P7 from P5, 128 channels as Lumen's default;
  - inputs normalised as Lumen normalises these weights, FCOS's own resizing turned off (min_size =
    the size, max_size large), so both see the same pixels;
  - item transform: short side resized to `size`, a random square crop in training (boxes moved,
    clipped, dropped under a quarter visible); augmentation stand-ins: horizontal flip (p 0.5),
    brightness and contrast 0.2 (p 0.75); Lumen's rotation, zoom and warp are not replicated;
  - fastai's fine_tune as the other baselines (bench/python/fine_tune.py): AdamW, frozen body for
    freeze_epochs at slice(lr), then unfrozen one-cycle over slice(lr/2/100, lr/2).
Prints one `fold=k train_img_s=… predict_img_s=… seconds=…` line per fold.

    /usr/bin/python3 bench/python/fcos_recipe.py --folds-file folds.json --body body.pth --norm norm.json
"""
import argparse
import json
import os
import random
import time

import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.models.detection import FCOS
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.models.resnet import BasicBlock, ResNet

from fine_tune import Normalize, freeze, one_cycle, optimizer_for, spread


def short_side(image, size):
    w, h = image.size
    f = size / min(w, h)
    nw, nh = max(size, round(w * f)), max(size, round(h * f))
    return image.resize((nw, nh), Image.BILINEAR), nw / w, nh / h


class Train(torch.utils.data.Dataset):
    def __init__(self, rows, size, norm):
        self.rows, self.size, self.norm = rows, size, norm

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]
        image, sx, sy = short_side(Image.open(row["path"]).convert("RGB"), self.size)
        w, h = image.size
        left, top = random.randint(0, w - self.size), random.randint(0, h - self.size)
        image = image.crop((left, top, left + self.size, top + self.size))
        boxes, labels = [], []
        for x0, y0, x1, y1, c in row["boxes"]:
            b = [x0 * sx - left, y0 * sy - top, x1 * sx - left, y1 * sy - top]
            area = (b[2] - b[0]) * (b[3] - b[1])
            k = [min(max(b[0], 0), self.size), min(max(b[1], 0), self.size), min(max(b[2], 0), self.size), min(max(b[3], 0), self.size)]
            if area > 0 and (k[2] - k[0]) * (k[3] - k[1]) >= 0.25 * area:
                boxes.append(k)
                labels.append(int(c))
        if random.random() < 0.5:
            image = TF.hflip(image)
            boxes = [[self.size - b[2], b[1], self.size - b[0], b[3]] for b in boxes]
        if random.random() < 0.75:
            image = TF.adjust_brightness(image, random.uniform(0.8, 1.2))
        if random.random() < 0.75:
            image = TF.adjust_contrast(image, random.uniform(0.8, 1.2))
        target = {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "labels": torch.tensor(labels, dtype=torch.int64)}
        return self.norm(TF.to_tensor(image)), target


def collate(batch):
    return [b[0] for b in batch], [b[1] for b in batch]


def detector(body_state, classes, size, channels):
    resnet = ResNet(BasicBlock, [2, 2, 2, 3])
    missing, unexpected = resnet.load_state_dict(body_state, strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected, (missing, unexpected)
    backbone = BackboneWithFPN(resnet, {"layer2": "0", "layer3": "1", "layer4": "2"}, [128, 256, 512], channels,
                               extra_blocks=LastLevelP6P7(channels, channels))
    return FCOS(backbone, num_classes=classes, min_size=size, max_size=size * 8, image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0],
                score_thresh=0.05, nms_thresh=0.6, detections_per_img=100, topk_candidates=1000)


def groups(model):
    body = model.backbone.body
    names = list(dict(body.named_children()).keys())
    early = [p for n in names[:6] for p in getattr(body, n).parameters()]
    late = [p for n in names[6:] for p in getattr(body, n).parameters()]
    ids = {id(p) for p in early + late}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [early, late, rest]


def detection_loss(model, images, targets):
    return sum(model(images, targets).values())


def find(model, rows, size, norm):
    model.eval()
    found = []
    with torch.no_grad():
        for row in rows:
            image = Image.open(row["path"]).convert("RGB")
            frame, sx, sy = short_side(image, size)
            out = model([norm(TF.to_tensor(frame))])[0]
            boxes = out["boxes"] / torch.tensor([sx, sy, sx, sy])
            found.append({"path": row["path"], "boxes": [[*b.tolist(), float(s), int(l)] for b, s, l in zip(boxes, out["scores"], out["labels"])]})
    return found


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--folds-file", required=True)
    a.add_argument("--body", required=True)
    a.add_argument("--norm", required=True)
    a.add_argument("--size", type=int, default=256)
    a.add_argument("--epochs", type=int, default=8)
    a.add_argument("--freeze-epochs", type=int, default=1)
    a.add_argument("--lr", type=float, default=2e-3)
    a.add_argument("--bs", type=int, default=16)
    a.add_argument("--channels", type=int, default=128)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--seed", type=int, default=42)
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    spec = json.load(open(args.folds_file))
    rows, classes = spec["images"], len(spec["classes"])
    body_state = torch.load(args.body)
    norm = Normalize(json.load(open(args.norm)))
    for fold in sorted({r["fold"] for r in rows}):
        torch.manual_seed(args.seed + fold)
        random.seed(args.seed + fold)
        start = time.time()
        train = [r for r in rows if r["fold"] != fold]
        valid = [r for r in rows if r["fold"] == fold]
        loader = torch.utils.data.DataLoader(Train(train, args.size, norm), batch_size=args.bs, shuffle=True, drop_last=True, num_workers=1, collate_fn=collate)
        model = detector(body_state, classes, args.size, args.channels)
        g = groups(model)
        opt = optimizer_for(model, g)
        trained = 0
        if args.freeze_epochs:
            freeze(model, g, True)
            trained += one_cycle(model, opt, loader, args.freeze_epochs, spread(None, args.lr), pct_start=0.99, loss=detection_loss)
        freeze(model, g, False)
        base = args.lr / 2
        trained += one_cycle(model, opt, loader, args.epochs, spread(base / 100, base), pct_start=0.3, div=5.0, loss=detection_loss)
        train_seconds = time.time() - start
        predict_start = time.time()
        found = find(model, valid, args.size, norm)
        predict_seconds = time.time() - predict_start
        with open(os.path.join(os.path.dirname(args.folds_file), f"detections-fold{fold}.json"), "w") as f:
            json.dump(found, f)
        print(f"fold={fold} train_img_s={trained / train_seconds:.2f} predict_img_s={len(valid) / predict_seconds:.2f} seconds={time.time() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
