"""Run an uncertainty estimator on an image and plot the uncertainty with matplotlib.

    pip install ./crates/uncertsam-py matplotlib
    python docs/python/estimate_and_plot.py [IMAGE] [x0,y0,x1,y1]

Without arguments it draws a synthetic image; the embedded model (a tiny SAM trained on the
synthetic benchmark) segments the boxed object. Use `uncertsam.Sam.load("sam_vit_b_01ec64.pth",
"vit_b")` for an official checkpoint. Writes `uncertainty.png` next to this script's cwd.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import uncertsam

if len(sys.argv) > 1:
    image = uncertsam.load_image(sys.argv[1])
    box = [float(v) for v in sys.argv[2].split(",")]
else:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:160, 0:200]
    image = (rng.random((160, 200, 3)) * 60 + 40).astype(np.uint8)
    image[(y - 80) ** 2 + (x - 95) ** 2 < 45**2] = [200, 120, 60]
    box = [48, 33, 142, 127]

sam = uncertsam.Sam.embedded()
print(sam.description, "| estimators:", ", ".join(n for n in uncertsam.estimators() if not n.startswith("_")))
est = uncertsam.estimate(sam, image, box, "laplace_probit")
mc = uncertsam.estimate(sam, image, box, "mc_dropout", samples=16, seed=0)

fig, ax = plt.subplots(1, 4, figsize=(16, 4))
ax[0].imshow(image)
ax[0].add_patch(plt.Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, color="w"))
ax[0].set_title("image and box prompt")
ax[1].imshow(est.prob, vmin=0, vmax=1, cmap="gray")
ax[1].set_title(f"p (predicted IoU {est.iou:.2f})")
for a, e in zip(ax[2:], (est, mc)):
    im = a.imshow(e.uncertainty, cmap="magma")
    a.contour(e.mask, levels=[0.5], colors="c", linewidths=0.8)
    a.set_title(f"{e.name.split('(')[0]}: uncertainty")
    fig.colorbar(im, ax=a, fraction=0.046)
for a in ax:
    a.axis("off")
fig.tight_layout()
fig.savefig("uncertainty.png", dpi=100)
print("wrote uncertainty.png")
