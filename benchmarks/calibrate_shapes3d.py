"""Calibrate the rendered 3D Shapes against genuine frames of the dataset.

The 53 frames of the dataset's README animation (``shared/reference/3dshapes``, genuine
64x64 images upscaled about 3.5x) are sampled back to 64x64.  Each frame's factors are
known from the animation (orientation sweep, then shape, scale, object hue, wall hue,
floor hue) or measured (hues: the nearest of the ten to the frame's colours; the scale of
the first frames: the best-matching of the eight).  The scene constants are fitted by
coordinate search on the mean absolute pixel difference (``--fit``), and the table of
per-frame differences and a side-by-side figure are written.

    python benchmarks/calibrate_shapes3d.py [--fit] [--figure docs/shapes3d_calibration.png]
"""

import argparse
import colorsys
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pyro_tcvae.data import scene as sc

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "3dshapes"
ORIENTATIONS = torch.linspace(-30, 30, 15)
SCALES = torch.linspace(0.75, 1.25, 8)


def load_frames(path):
    f = np.load(path)["frames"]
    rows = ((np.arange(64) + 0.5) * f.shape[1] / 64).astype(int)
    cols = ((np.arange(64) + 0.5) * f.shape[2] / 64).astype(int)
    return f[:, rows][:, :, cols].astype(np.float32) / 255.0  # [53, 64, 64, 3]


def hue_class(rgb):
    h = colorsys.rgb_to_hsv(*[float(c) for c in rgb])[0]
    return int(round(h * 10)) % 10


def frame_factors(frames, small_scale):
    """(orientation, shape, scale, object hue, wall hue, floor hue) classes per frame."""
    out = []
    for i, fr in enumerate(frames):
        orient = i if i < 15 else 14
        shape = 0 if i < 15 else min(i - 14, 3)
        scale = small_scale if i < 17 else min(i - 17, 7)
        obj = hue_class(fr[42, 32])
        wall = hue_class(fr[28, 5])
        floor = hue_class(fr[61, 8])
        out.append((orient, shape, scale, obj, wall, floor))
    return out


def render(factors, scene, samples=3):
    """Renders of frames with the given factors, float [n, 64, 64, 3]."""
    geoms = sorted({f[:3] for f in factors})
    weights = {}
    for shape in range(4):
        gs = [g for g in geoms if g[1] == shape]
        if not gs:
            continue
        w = sc.render_weights(ORIENTATIONS[[g[0] for g in gs]], shape,
                              SCALES[[g[2] for g in gs]], samples=samples, scene=scene)
        weights.update(zip(gs, w))
    w = torch.stack([weights[f[:3]] for f in factors])
    hues = torch.tensor([f[3:] for f in factors], dtype=torch.float32) / 10
    return sc.colorize(w, hues[:, 2], hues[:, 1], hues[:, 0], scene=scene).numpy()


def errors(frames, factors, scene, samples=3):
    """Mean absolute pixel difference of each frame against its render, [n]."""
    return np.abs(render(factors, scene, samples) - frames).mean(axis=(1, 2, 3))


GEOMETRY = {  # searched ranges of the geometry constants
    "camera_distance": (2, 10), "camera_height": (0.3, 2.5), "target_height": (0.0, 3.0),
    "fov": (20, 90), "back": (1, 40), "side": (1, 40), "wall_height": (1, 20),
    "cube": (0.4, 1.2), "cylinder_radius": (0.2, 0.7), "cylinder_height": (0.4, 1.4),
    "sphere_radius": (0.2, 0.7), "capsule_radius": (0.2, 0.7), "capsule_height": (0.8, 2.5),
}
SHADING = {  # searched ranges of the light's position and the shading constants
    "light0": (-8, 8), "light1": (0.5, 10), "light2": (-8, 8), "spot": (0.0, 40.0),
    "ambient": (0.0, 0.7),
    "headlight": (0.0, 1.0), "diffuse": (0.0, 1.0), "shadow": (0.0, 1.0),
}
FIT_FRAMES = [0, 2, 4, 7, 10, 12, 14, 15, 16, 17, 19, 21, 24, 26, 29, 32, 35, 38, 45, 50]
ALL_FRAMES = list(range(53))


def surface_labels(frame, f):
    """Which surface each genuine pixel shows (0 floor, 1 wall, 2 object, 3 sky, -1
    unsure), from its hue against the frame's three hues; None when two hues coincide."""
    import matplotlib.colors as mc
    hsv = mc.rgb_to_hsv(frame)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hues = (f[5] / 10, f[4] / 10, f[3] / 10)
    if len(set(hues)) < 3:
        return None
    lab = np.full(frame.shape[:2], -1)
    lab[(sat < 0.5) & (val > 0.8)] = 3
    d = np.stack([np.minimum(np.abs(hue - h), 1 - np.abs(hue - h)) for h in hues], -1)
    ok = (sat > 0.7) & (val > 0.15) & (d.min(-1) < 0.04)
    lab[ok] = d.argmin(-1)[ok]
    lab[[0, -1], :] = lab[:, [0, -1]] = -1  # the animation's white border
    return lab


def geometry_error(frames, factors, scene, frames_used=FIT_FRAMES):
    """Fraction of confidently labelled pixels where the render shows another surface."""
    wrong = total = 0
    for i in frames_used:
        lab = surface_labels(frames[i], factors[i])
        if lab is None:
            continue
        f = factors[i]
        w = sc.render_weights(ORIENTATIONS[[f[0]]], f[1], SCALES[[f[2]]], samples=1,
                              scene=scene)[0]
        pred, m = w.argmax(-1).numpy(), lab >= 0
        wrong += (pred[m] != lab[m]).sum()
        total += m.sum()
    return wrong / total


def get(scene, k):
    return scene["light"][int(k[-1])] if k.startswith("light") else scene[k]


def put(scene, k, v):
    scene = copy.deepcopy(scene)
    if k.startswith("light"):
        light = list(scene["light"])
        light[int(k[-1])] = v
        scene["light"] = tuple(light)
    else:
        scene[k] = v
    return scene


def search(loss, ranges, scene, trials, rounds, seed=0):
    """Random search over ``ranges`` (keeping the start if it is better), then
    coordinate descent with halving steps."""
    rng = np.random.default_rng(seed)
    best = loss(scene)
    for _ in range(trials):
        trial = scene
        for k, (lo, hi) in ranges.items():
            trial = put(trial, k, float(rng.uniform(lo, hi)))
        e = loss(trial)
        if e < best:
            scene, best = trial, e
    steps = {k: (hi - lo) / 10 for k, (lo, hi) in ranges.items()}
    for r in range(rounds):
        for k, step in steps.items():
            for sign in (1, -1):
                while True:
                    trial = put(scene, k, get(scene, k) + sign * step)
                    e = loss(trial)
                    if e < best - 1e-6:
                        scene, best = trial, e
                    else:
                        break
        steps = {k: v / 2 for k, v in steps.items()}
        print(f"  round {r}: {best:.4f}", file=sys.stderr)
    return scene


def fit(frames, factors, scene, trials, geometry=True):
    """The scene constants fitted in two stages: geometry on surface labels, then the
    lights on pixel differences."""
    if geometry:
        print("geometry: fraction of pixels on the wrong surface", file=sys.stderr)
        scene = search(lambda s: geometry_error(frames, factors, s), GEOMETRY, scene, trials, 6)
    sub = FIT_FRAMES
    print("shading: mean absolute difference", file=sys.stderr)
    return search(lambda s: errors(frames[sub], [factors[i] for i in sub], s, 1).mean(),
                  SHADING, scene, trials // 3, 4)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", default=str(REFERENCE / "gif_frames.npz"))
    p.add_argument("--fit", action="store_true", help="fit the scene constants first")
    p.add_argument("--shading-only", action="store_true", help="fit only the lights")
    p.add_argument("--trials", type=int, default=1500, help="random trials of the fit")
    p.add_argument("--figure", default=None)
    a = p.parse_args()
    frames = load_frames(a.frames)
    scene = dict(sc.SCENE)
    t0 = time.time()
    small = min(range(8), key=lambda s: errors(frames[:15], frame_factors(frames, s)[:15],
                                               scene).mean())
    factors = frame_factors(frames, small)
    if a.fit:
        scene = fit(frames, factors, scene, a.trials, not a.shading_only)
        small = min(range(8), key=lambda s: errors(frames[:15], frame_factors(frames, s)[:15],
                                                   scene).mean())
        factors = frame_factors(frames, small)
        print({k: (tuple(round(x, 3) for x in v) if isinstance(v, tuple) else round(v, 3))
               for k, v in scene.items()})
    e = errors(frames, factors, scene)
    print("| frame | orientation | shape | scale | hues (obj, wall, floor) | MAE |")
    print("|---|---|---|---|---|---|")
    for i, (f, err) in enumerate(zip(factors, e)):
        print(f"| {i} | {float(ORIENTATIONS[f[0]]):+.1f} | {sc.SHAPES[f[1]]} | "
              f"{float(SCALES[f[2]]):.3f} | {f[3]/10:.1f}, {f[4]/10:.1f}, {f[5]/10:.1f} | "
              f"{err:.4f} |")
    wrong = geometry_error(frames, factors, scene, ALL_FRAMES)
    print(f"\npixels on the wrong surface (floor, wall, object, sky; the pixels whose surface "
          f"the frame's hues tell): {100 * wrong:.2f}%")
    print(f"mean absolute difference over 53 frames: {e.mean():.4f} (median {np.median(e):.4f},"
          f" max {e.max():.4f}; pixel values in [0, 1]); {time.time() - t0:.1f} s")
    if a.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        pick = [0, 7, 14, 15, 16, 17, 24, 28, 36, 50]
        ren = render([factors[i] for i in pick], scene)
        fig, ax = plt.subplots(2, len(pick), figsize=(1.6 * len(pick), 3.6))
        for j, i in enumerate(pick):
            ax[0, j].imshow(frames[i]); ax[1, j].imshow(ren[j])
            ax[0, j].set_title(f"frame {i}\nMAE {e[i]:.3f}", fontsize=8)
            for r in (0, 1):
                ax[r, j].set_xticks([]); ax[r, j].set_yticks([])
        ax[0, 0].set_ylabel("genuine"); ax[1, 0].set_ylabel("rendered")
        fig.tight_layout()
        fig.savefig(a.figure, dpi=100)


if __name__ == "__main__":
    main()
