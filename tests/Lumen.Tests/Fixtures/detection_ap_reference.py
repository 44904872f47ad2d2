"""Reference values for Lumen's COCO average precision (tests/Lumen.Tests/Tasks/DetectionTests.cs).

Draws seeded random cases (images with true boxes of 1-3 classes, and detections near them, jittered,
missed, duplicated or spurious, with random scores) and computes COCO's bounding-box AP with numpy
alone, following pycocotools' COCOeval (evaluateImg + accumulate) without importing it: per image and
class the detections sorted by score (stable), at most 100; each matched to the unmatched true box of
highest IoU >= the threshold; across images the detections sorted by score (mergesort), cumulative
true and false positives, precision made non-increasing from the right, read at the recall points
np.linspace(0, 1, 101) with searchsorted(side='left'), 0 beyond; AP is the mean of those 101 values,
averaged over the classes with true boxes; AP50 at IoU 0.5, AP over np.linspace(0.5, 0.95, 10);
recall50 the last recall at IoU 0.5. IoU is COCO's for boxes given as corners (no +1).

    /usr/bin/python3 tests/Lumen.Tests/Fixtures/detection_ap_reference.py > tests/Lumen.Tests/Fixtures/detection-ap-reference.json

Made with Debian 12's python3-numpy.
"""
import json

import numpy as np


def iou(d, g):
    w = min(d[2], g[2]) - max(d[0], g[0])
    h = min(d[3], g[3]) - max(d[1], g[1])
    inter = w * h if w > 0 and h > 0 else 0.0
    union = (d[2] - d[0]) * (d[3] - d[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
    return inter / union if union > 0 else 0.0


def class_ap(dets, gts, c, thr):
    total = sum(1 for img in gts for g in img if g[0] == c)
    scores, hits = [], []
    for d_img, g_img in zip(dets, gts):
        g = [b[1:] for b in g_img if b[0] == c]
        d = sorted([b for b in d_img if b[0] == c], key=lambda b: -b[1])[:100]
        matched = [False] * len(g)
        for det in d:
            best, best_iou = -1, min(thr, 1 - 1e-10)
            for k, gt in enumerate(g):
                if matched[k]:
                    continue
                v = iou(det[2:], gt)
                if v < best_iou:
                    continue
                best_iou, best = v, k
            if best >= 0:
                matched[best] = True
            scores.append(det[1])
            hits.append(best >= 0)
    order = np.argsort(-np.array(scores, dtype=np.float64), kind="mergesort")
    tp = np.cumsum(np.array(hits, dtype=bool)[order]).astype(np.float64)
    fp = np.cumsum(~np.array(hits, dtype=bool)[order]).astype(np.float64)
    rc = tp / total
    pr = tp / np.maximum(tp + fp, np.spacing(1))
    pr = pr.tolist()
    for i in range(len(pr) - 1, 0, -1):
        if pr[i] > pr[i - 1]:
            pr[i - 1] = pr[i]
    points = np.linspace(0.0, 1.0, 101)
    inds = np.searchsorted(rc, points, side="left")
    q = [pr[i] if i < len(pr) else 0.0 for i in inds]
    return float(np.mean(q)), float(rc[-1]) if len(rc) else 0.0


def case(seed, images, classes):
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(images):
        g_img, d_img = [], []
        for _ in range(rng.integers(0, 4)):
            c = int(rng.integers(0, classes))
            x, y = rng.uniform(0, 80), rng.uniform(0, 80)
            w, h = rng.uniform(8, 40), rng.uniform(8, 40)
            g = [c, x, y, x + w, y + h]
            g_img.append(g)
            for _ in range(rng.integers(0, 3)):  # 0: missed; 2: a duplicate
                j = rng.normal(0, 4, size=4)
                d_img.append([c if rng.random() < 0.85 else int(rng.integers(0, classes)), float(rng.random()),
                              g[1] + j[0], g[2] + j[1], g[3] + j[2] + 1, g[4] + j[3] + 1])
        for _ in range(rng.integers(0, 3)):  # spurious
            x, y = rng.uniform(0, 80), rng.uniform(0, 80)
            d_img.append([int(rng.integers(0, classes)), float(rng.random() * 0.7), x, y, x + rng.uniform(5, 30), y + rng.uniform(5, 30)])
        gts.append([[float(v) if k else int(v) for k, v in enumerate(b)] for b in g_img])
        dets.append([[float(v) if k else int(v) for k, v in enumerate(b)] for b in d_img])
    with_gt = [c for c in range(classes) if any(b[0] == c for img in gts for b in img)]
    ap50 = {c: class_ap(dets, gts, c, 0.5) for c in with_gt}
    ap = {c: float(np.mean([class_ap(dets, gts, c, t)[0] for t in np.linspace(0.5, 0.95, 10)])) for c in with_gt}
    return {
        "classes": classes,
        "truths": gts,
        "detections": dets,
        "ap50": float(np.mean([ap50[c][0] for c in with_gt])),
        "ap": float(np.mean([ap[c] for c in with_gt])),
        "recall50": float(np.mean([ap50[c][1] for c in with_gt])),
        "per_class_ap50": [ap50[c][0] if c in ap50 else None for c in range(classes)],
    }


print(json.dumps({"one_class": case(7, 12, 1), "three_classes": case(11, 20, 3)}))
