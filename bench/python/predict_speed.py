"""PyTorch baseline for `bench/Lumen.Bench predict`: torchvision resnet18 (random init: speed does not
depend on the weights), eval mode, no_grad, on already-decoded tensors; images/s per batch size.
Prints key=value lines. Run with Debian's interpreter: /usr/bin/python3 bench/python/predict_speed.py.
"""
import argparse
import time

import torch
import torchvision


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seconds", type=float, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--classes", type=int, default=4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)  # Debian's PyTorch 1.13 defaults to one thread
    model = torchvision.models.resnet18(num_classes=a.classes).eval()
    for bs in (1, 8, 32):
        x = torch.randn(bs, 3, a.size, a.size)
        with torch.no_grad():
            model(x)
            start, runs = time.time(), 0
            while time.time() - start < a.seconds or runs < 2:
                model(x).softmax(1)
                runs += 1
        print(f"bs{bs}={runs * bs / (time.time() - start):.2f}", flush=True)


if __name__ == "__main__":
    main()
