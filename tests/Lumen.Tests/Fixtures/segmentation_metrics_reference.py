"""Reference values for Lumen's segmentation metrics (tests/Lumen.Tests/Tasks/SegmentationTests.cs).

Draws seeded random logits (N x C x H x W) and targets (N x H x W) for a binary and a 4-class case,
and computes with numpy alone, independently of Lumen's tensor code: the argmax prediction; per
foreground class (1..C-1) the Dice over all pixels 2|P&T|/(|P|+|T|), the Jaccard |P&T|/|P|T|, the
Dice of each image (1 where both are empty) averaged over images; each averaged over the classes;
the foreground accuracy over pixels whose target is not 0; and the pixels' mean cross-entropy per
image (log-softmax over the classes).

    /usr/bin/python3 tests/Lumen.Tests/Fixtures/segmentation_metrics_reference.py > tests/Lumen.Tests/Fixtures/segmentation-metrics-reference.json

Made with Debian 12's python3-numpy.
"""
import json

import numpy as np


def case(seed, n, c, h, w):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c, h, w)).astype(np.float32)
    # Targets agree with the logits' argmax on about two thirds of pixels, and some images are all background.
    targets = np.where(rng.random((n, h, w)) < 0.66, logits.argmax(1), rng.integers(0, c, size=(n, h, w)))
    targets[0] = 0
    pred = logits.argmax(1)
    dice, jaccard, per_image = [], [], []
    for k in range(1, c):
        p, t = pred == k, targets == k
        both, size = (p & t).sum(), p.sum() + t.sum()
        dice.append(1.0 if size == 0 else 2 * both / size)
        jaccard.append(1.0 if size - both == 0 else both / (size - both))
        images = []
        for i in range(n):
            b, s = (p[i] & t[i]).sum(), p[i].sum() + t[i].sum()
            images.append(1.0 if s == 0 else 2 * b / s)
        per_image.append(np.mean(images))
    fg = targets != 0
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax = log_softmax - np.log(np.exp(log_softmax).sum(1, keepdims=True))
    nll = -np.take_along_axis(log_softmax, targets[:, None], 1)[:, 0]
    return {
        "shape": [n, c, h, w],
        "logits": logits.ravel().tolist(),
        "targets": targets.ravel().astype(int).tolist(),
        "dice": float(np.mean(dice)),
        "jaccard": float(np.mean(jaccard)),
        "dice_per_image": float(np.mean(per_image)),
        "foreground_acc": float((pred[fg] == targets[fg]).mean()),
        "cross_entropy_per_image": nll.reshape(n, -1).mean(1).tolist(),
    }


print(json.dumps({"binary": case(1, 4, 2, 9, 7), "four_classes": case(2, 3, 4, 6, 8)}))
