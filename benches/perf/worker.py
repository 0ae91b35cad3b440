"""`python benches/perf/worker.py ROW`: the PyTorch side of `cargo xtask perf` (xtask/src/perf.rs).

The same rows and line protocol as the Rust worker (`benches/perf/worker.rs`): set up one row with
the official code (random weights, eval mode, `torch.inference_mode()`, the thread count of
`UNCERTSAM_PERF_THREADS`), print `{"ready": true}`, answer each `run` with one timed call as
`{"seconds": s}`, and `quit` with `{"peak_rss_kib": n}` (`VmHWM`). Rows: `encoder:vit_b`,
`encoder:vit_h`, `encoder:tiny_vit` (MobileSAM), `encoder:hiera_t`, `encoder:hiera_l` (SAM 2),
`decoder:boxes1`, `decoder:boxes32` (the ViT-B geometry's prompt encoder + mask decoder,
multimask), `metrics` (fixtures/metrics' Python reference of every per-mask metric).
Packages: benches/perf/requirements.txt (`cargo xtask perf` installs them).
"""

import json
import os
import sys
import time

import numpy as np
import torch

THREADS = int(os.environ.get("UNCERTSAM_PERF_THREADS", "2"))
torch.set_num_threads(THREADS)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def model_input(side):
    """The Rust worker's input: ((i * 7919) mod 1000) / 500 - 1 at flat index i, f32."""
    i = np.arange(3 * side * side, dtype=np.int64)
    v = ((i * 7919) % 1000).astype(np.float32) / np.float32(500.0) - np.float32(1.0)
    return torch.from_numpy(v.reshape(1, 3, side, side))


def sam_v1(kind):
    if kind == "tiny_vit":
        from mobile_sam import sam_model_registry
        return sam_model_registry["vit_t"](checkpoint=None).eval()
    from segment_anything import sam_model_registry
    return sam_model_registry[kind](checkpoint=None).eval()


def sam2_encoder(kind):
    from sam2.build_sam import build_sam2
    cfg = {"hiera_t": "configs/sam2/sam2_hiera_t.yaml", "hiera_l": "configs/sam2/sam2_hiera_l.yaml"}[kind]
    model = build_sam2(cfg, None, device="cpu", mode="eval")

    def encode(x):
        # SAM2ImagePredictor.set_image after the transforms: backbone (trunk + FPN neck, the
        # high-resolution convs), the no-memory embedding, the features as [1, C, H, W].
        out = model.forward_image(x)
        _, feats, _, sizes = model._prepare_backbone_features(out)
        feats[-1] = feats[-1] + model.no_mem_embed
        return [f.permute(1, 2, 0).view(1, -1, *s) for f, s in zip(feats[::-1], sizes[::-1])]
    return encode


def setup(row):
    if row.startswith("encoder:"):
        kind = row.split(":", 1)[1]
        x = model_input(1024)
        if kind in ("hiera_t", "hiera_l"):
            encode = sam2_encoder(kind)
            return lambda: encode(x)
        enc = sam_v1(kind).image_encoder
        return lambda: enc(x)
    if row.startswith("decoder:boxes"):
        n = int(row[len("decoder:boxes"):])
        sam = sam_v1("vit_b")
        torch.manual_seed(0)
        emb = torch.randn(1, 256, 64, 64)
        # The Rust worker's boxes (640 x 480 image, original coordinates) in model-input
        # coordinates (x 1024 / 640).
        boxes = torch.tensor([[100 + 7 * i, 80 + 7 * i, 400 - 7 * i, 300 - 3.5 * i] for i in range(n)],
                             dtype=torch.float32) * (1024 / 640)
        pe = sam.prompt_encoder.get_dense_pe()

        def decode():
            sparse, dense = sam.prompt_encoder(points=None, boxes=boxes, masks=None)
            return sam.mask_decoder(image_embeddings=emb, image_pe=pe, sparse_prompt_embeddings=sparse,
                                    dense_prompt_embeddings=dense, multimask_output=True)
        return decode
    if row == "metrics":
        sys.path.insert(0, os.path.join(ROOT, "fixtures", "metrics"))
        import time_python  # noqa: E402  (sets torch to 1 thread, as the Rust metrics are)
        maps = time_python.synthetic(1024)
        return lambda: time_python.mask_columns(*maps)
    raise SystemExit(f"unknown row {row}")


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    call = setup(sys.argv[1])
    print(json.dumps({"ready": True}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "run":
                t0 = time.perf_counter()
                call()
                print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
            elif cmd == "quit":
                print(json.dumps({"peak_rss_kib": peak_rss_kib()}), flush=True)
                return
            else:
                raise SystemExit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
