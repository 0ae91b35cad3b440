"""The PyTorch side of `scripts/gpu-check.sh`, and its timing table.

    python scripts/gpu_timing.py torch --device cuda --dtypes f32,tf32,bf16 \
        --parts vit_b,vit_h,hiera_l,decoder:vit_b --runs 5 --batch 64 > torch.jsonl
    python scripts/gpu_timing.py table rust.jsonl torch.jsonl

`torch` times the official code (segment-anything 1.0, sam2 1.1.0) on the geometries and inputs
of `benches/examples/gpu_timing.rs` and writes the same JSON lines: random weights, eval mode,
`inference_mode`, `--warmup` untimed runs, then `--runs` timed ones, each ended by
`torch.cuda.synchronize()`; median. Parts: `vit_b` / `vit_l` / `vit_h` (`image_encoder` on
`[1, 3, 1024, 1024]`), `hiera_t` / `hiera_s` / `hiera_b+` / `hiera_l` (SAM 2 `forward_image`:
trunk, FPN neck and the decoder's high-resolution convolutions, as `Sam2::embed_input`), and
`decoder:<vit_x>` (prompt encoder and mask decoder, `--batch` boxes on one embedding,
multimask). Dtypes: `f32` (TF32 off for matmuls and cuDNN convolutions), `tf32` (both on), `bf16`
(`torch.autocast(bfloat16)`, the official SAM 2 inference setting).

`table` prints a markdown table of the two files' medians, one row per part and dtype.
"""

import argparse
import json
import statistics
import sys
import time

SAM_PARTS = {"vit_b", "vit_l", "vit_h"}
SAM2_CONFIGS = {
    # The SAM 2 (not 2.1) configs, as fixtures/sam2/generate.py; Sam2Config::preset's geometries.
    "hiera_t": "configs/sam2/sam2_hiera_t.yaml",
    "hiera_s": "configs/sam2/sam2_hiera_s.yaml",
    "hiera_b+": "configs/sam2/sam2_hiera_b+.yaml",
    "hiera_l": "configs/sam2/sam2_hiera_l.yaml",
}


def median_time(torch, fn, runs, warmup, device):
    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        fn()
        sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def build_part(torch, name, device, batch):
    """A zero-argument function that runs the part once."""
    if name.startswith("decoder:"):
        from segment_anything import sam_model_registry

        sam = sam_model_registry[name.split(":", 1)[1]](checkpoint=None).to(device).eval()
        side = sam.image_encoder.img_size
        grid = sam.prompt_encoder.image_embedding_size
        emb = torch.randn(1, sam.prompt_encoder.embed_dim, *grid, device=device)
        pe = sam.prompt_encoder.get_dense_pe()
        f = float(side)
        t = torch.arange(batch, dtype=torch.float32, device=device) / batch
        boxes = torch.stack(
            [0.1 * f + 0.2 * f * t, torch.full_like(t, 0.15 * f), 0.6 * f + 0.3 * f * t, torch.full_like(t, 0.8 * f)],
            dim=1,
        )

        def run():
            sparse, dense = sam.prompt_encoder(points=None, boxes=boxes, masks=None)
            return sam.mask_decoder(emb, pe, sparse, dense, multimask_output=True)

        return run
    if name in SAM2_CONFIGS:
        from sam2.build_sam import build_sam2

        model = build_sam2(SAM2_CONFIGS[name], None, device=device, mode="eval")
        x = torch.randn(1, 3, model.image_size, model.image_size, device=device)
        return lambda: model.forward_image(x)
    if name in SAM_PARTS:
        from segment_anything import sam_model_registry

        sam = sam_model_registry[name](checkpoint=None).to(device).eval()
        side = sam.image_encoder.img_size
        x = torch.randn(1, 3, side, side, device=device)
        return lambda: sam.image_encoder(x)
    raise SystemExit(f"gpu_timing.py: unknown part `{name}`")


def torch_main(args):
    import contextlib

    import torch

    torch.manual_seed(0)
    for dtype in args.dtypes.split(","):
        if dtype not in ("f32", "tf32", "bf16"):
            raise SystemExit(f"gpu_timing.py: unknown dtype `{dtype}`")
        tf32 = dtype != "f32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        for name in args.parts.split(","):
            with torch.inference_mode():
                fn = build_part(torch, name, args.device, args.batch)
                ctx = (
                    torch.autocast(args.device, dtype=torch.bfloat16)
                    if dtype == "bf16"
                    else contextlib.nullcontext()
                )

                def timed(fn=fn, ctx=ctx):
                    with ctx:
                        fn()

                med, times = median_time(torch, timed, args.runs, args.warmup, args.device)
            rec = {
                "impl": "pytorch",
                "backend": args.device,
                "dtype": dtype,
                "part": name,
                "batch": args.batch if name.startswith("decoder:") else 1,
                "median_s": med,
                "times_s": times,
                "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
            }
            print(json.dumps(rec), flush=True)
            del fn
            if args.device == "cuda":
                torch.cuda.empty_cache()


def read_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
    return out


def fmt(s):
    if s is None:
        return "—"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def table_main(args):
    recs = [r for p in args.files for r in read_lines(p)]
    parts = list(dict.fromkeys(r["part"] for r in recs))
    dtypes = list(dict.fromkeys(r["dtype"] for r in recs))
    by = {(r["impl"], r["part"], r["dtype"]): r["median_s"] for r in recs}
    # burn-cuda 0.21 runs f32 matmuls on TF32 tensor cores (docs/performance.md, "CUDA"), so
    # uncertsam f32 is set against PyTorch with TF32 on; bf16 against PyTorch's bf16 autocast.
    match = {"f32": "tf32", "bf16": "bf16"}
    print("| part | uncertsam dtype | uncertsam | PyTorch f32 (TF32 off) | PyTorch tf32 | PyTorch bf16 "
          "| ratio to PyTorch (f32: tf32, bf16: bf16) |")
    print("|---|---|---|---|---|---|---|")
    for part in parts:
        for dtype in dtypes:
            ours = by.get(("uncertsam", part, dtype))
            if ours is None:
                continue
            ref = by.get(("pytorch", part, match.get(dtype, dtype)))
            ratio = f"{ours / ref:.2f}×" if ref else "—"
            cols = [fmt(by.get(("pytorch", part, d))) for d in ("f32", "tf32", "bf16")]
            print(f"| {part} | {dtype} | {fmt(ours)} | {' | '.join(cols)} | {ratio} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("torch")
    t.add_argument("--device", default="cuda")
    t.add_argument("--dtypes", default="f32,tf32,bf16")
    t.add_argument("--parts", default="vit_b,vit_h,hiera_l,decoder:vit_b")
    t.add_argument("--runs", type=int, default=5)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--batch", type=int, default=64)
    tb = sub.add_parser("table")
    tb.add_argument("files", nargs="+")
    args = ap.parse_args()
    if args.cmd == "torch":
        torch_main(args)
    else:
        table_main(args)


if __name__ == "__main__":
    sys.exit(main())
