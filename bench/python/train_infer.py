"""PyTorch baseline for `bench/Lumen.Bench train`: torchvision resnet18/34 (random init, 10 classes),
Adam, cross-entropy on synthetic batches; images/s for training steps and inference, at 128 and 224.
Prints key=value lines. Run with Debian's interpreter: /usr/bin/python3 bench/python/train_infer.py.
"""
import argparse
import time

import torch
import torchvision


def timed(step, bs, seconds):
    step()
    start, steps = time.time(), 0
    while time.time() - start < seconds or steps < 2:
        step()
        steps += 1
    return steps * bs / (time.time() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for arch in ("resnet18", "resnet34"):
        for size in (128, 224):
            model = getattr(torchvision.models, arch)(num_classes=10)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            x = torch.randn(a.bs, 3, size, size)
            y = torch.randint(0, 10, (a.bs,))

            def train():
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()

            def infer():
                with torch.no_grad():
                    model(x)

            model.train()
            print(f"{arch}_{size}_train={timed(train, a.bs, a.seconds):.2f}", flush=True)
            model.eval()
            print(f"{arch}_{size}_infer={timed(infer, a.bs, a.seconds):.2f}", flush=True)


if __name__ == "__main__":
    main()
