"""PyTorch baseline for `bench/Lumen.Bench data`: the fastai-style pipeline in PIL + torchvision.

Decode (PIL) -> Resize(size) + RandomCrop(size) -> ToTensor -> collate (DataLoader) ->
batch affine warp with one grid_sample (flip, rotate 10 deg, zoom 1..1.1, reflection padding) ->
lighting in logit space -> ImageNet normalisation. Prints workers1=<images/s> and workers2=<images/s>.
Run with Debian's interpreter: /usr/bin/python3 bench/python/data_pipeline.py <folder>.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms


def augment(x):
    n = x.shape[0]
    ang = (torch.rand(n) * 2 - 1) * math.radians(10)
    scale = 1 / (1 + torch.rand(n) * 0.1)
    flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(ang) * scale * flip
    theta[:, 0, 1] = -torch.sin(ang) * scale
    theta[:, 1, 0] = torch.sin(ang) * scale * flip
    theta[:, 1, 1] = torch.cos(ang) * scale
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    b = torch.logit(0.5 + (torch.rand(n, 1, 1, 1) - 0.5) * 0.2)
    c = torch.exp((torch.rand(n, 1, 1, 1) * 2 - 1) * -math.log(0.8))
    x = torch.sigmoid((torch.logit(x.clamp(1e-6, 1 - 1e-6)) + b) * c)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def measure(folder, size, workers, seconds):
    tfm = transforms.Compose([transforms.Resize(size), transforms.RandomCrop(size), transforms.ToTensor()])
    ds = torchvision.datasets.ImageFolder(folder, transform=tfm)
    # workers=1 decodes in the main process (like one Lumen decode thread); 2 uses two worker processes.
    dl = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, drop_last=True,
                                     num_workers=0 if workers == 1 else workers)
    start, images = time.time(), 0
    while time.time() - start < seconds:
        for x, _ in dl:
            augment(x)
            images += x.shape[0]
            if time.time() - start >= seconds:
                break
    return images / (time.time() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()
    for workers in (1, 2):
        torch.set_num_threads(workers)
        measure(a.folder, a.size, workers, 1)  # warm-up
        print(f"workers{workers}={measure(a.folder, a.size, workers, a.seconds):.2f}", flush=True)


if __name__ == "__main__":
    main()
