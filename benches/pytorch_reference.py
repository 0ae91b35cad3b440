"""Time the official PyTorch segment-anything 1.0 on the geometries of `benches/benches/sam.rs`.

Run in the same session as `cargo bench -p uncertsam-benches` so that the ratio is the figure:

    /path/to/venv/bin/python benches/pytorch_reference.py [tiny,vit_b] > pytorch.json

(venv: `pip install -r fixtures/sam/requirements.txt`). Random weights, fp32, eager mode,
`torch.set_num_threads(2)`, `torch.inference_mode()`; median of 1 warm-up + N runs. It also
counts FLOPs with `torch.utils.flop_counter` (2 FLOPs per multiply-add; matmuls and convs only).
"""

import json
import statistics
import sys
import time
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode

from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

GEOMETRIES = {
    # Must equal SamConfig::tiny() and SamConfig::vit_b().
    "tiny": dict(img=256, dim=32, depth=2, heads=2, glob=[1], window=7, out=32, emb=16, mlp=64, dheads=4, iou=32, runs=20),
    "vit_b": dict(img=1024, dim=768, depth=12, heads=12, glob=[2, 5, 8, 11], window=14, out=256, emb=64, mlp=2048,
                  dheads=8, iou=256, runs=5),
}


def build(g):
    return Sam(
        image_encoder=ImageEncoderViT(depth=g["depth"], embed_dim=g["dim"], img_size=g["img"], mlp_ratio=4,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), num_heads=g["heads"],
                                      patch_size=16, qkv_bias=True, use_rel_pos=True,
                                      global_attn_indexes=g["glob"], window_size=g["window"], out_chans=g["out"]),
        prompt_encoder=PromptEncoder(embed_dim=g["out"], image_embedding_size=(g["emb"], g["emb"]),
                                     input_image_size=(g["img"], g["img"]), mask_in_chans=16),
        mask_decoder=MaskDecoder(num_multimask_outputs=3,
                                 transformer=TwoWayTransformer(depth=2, embedding_dim=g["out"], mlp_dim=g["mlp"],
                                                               num_heads=g["dheads"]),
                                 transformer_dim=g["out"], iou_head_depth=3, iou_head_hidden_dim=g["iou"]),
    ).eval()


def median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def flops(fn):
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@torch.inference_mode()
def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    names = (sys.argv[1] if len(sys.argv) > 1 else "tiny,vit_b").split(",")
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {}}
    for name in names:
        g = GEOMETRIES[name]
        sam = build(g)
        x = torch.randn(1, 3, g["img"], g["img"])
        emb = sam.image_encoder(x)
        pe = sam.prompt_encoder.get_dense_pe()
        f = float(g["img"])
        prompts = {
            "decoder_point": dict(points=(torch.tensor([[[0.5 * f, 0.4 * f]]]), torch.tensor([[1]])), boxes=None, masks=None),
            "decoder_box": dict(points=None, boxes=torch.tensor([[0.2 * f, 0.2 * f, 0.7 * f, 0.8 * f]]), masks=None),
        }
        res = {}
        enc = lambda: sam.image_encoder(x)
        med, times = median_time(enc, max(3, g["runs"] // 2) if name == "vit_b" else g["runs"])
        res["encoder"] = {"median_s": med, "times_s": times, "gflop": flops(enc) / 1e9}
        for label, p in prompts.items():
            def dec(p=p):
                s, d = sam.prompt_encoder(**p)
                return sam.mask_decoder(emb, pe, s, d, multimask_output=True)
            med, times = median_time(dec, 20)
            res[label] = {"median_s": med, "times_s": times, "gflop": flops(dec) / 1e9}
        out["results"][name] = res
    json.dump(out, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
