//! Times each stage of the image encoder once: `cargo run --release -p uncertsam-benches
//! --example encoder_profile [vit_b|tiny]`.

use std::time::Instant;

use burn::backend::NdArray;
use burn::prelude::*;
use uncertsam_sam::{Sam, SamConfig};

type B = NdArray<f32>;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "vit_b".into());
    let cfg = SamConfig::preset(&name).expect("preset name");
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    let device = Default::default();
    let sam = Sam::<B>::new(&cfg, &device).expect("valid preset");
    let s = cfg.img_size;
    let x = Tensor::<B, 4>::random(
        [1, 3, s, s],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let enc = sam
        .image_encoder
        .vit()
        .expect("the profile runs a ViT preset");
    let t = Instant::now();
    let total = Instant::now();
    let mut h = enc.embed_patches(x);
    let _ = h.clone().slice([0..1, 0..1, 0..1]).into_data();
    println!("patch_embed {:.3}s", t.elapsed().as_secs_f64());
    for (i, block) in enc.blocks.iter().enumerate() {
        let t = Instant::now();
        h = block.forward(h);
        let _ = h.clone().slice([0..1, 0..1, 0..1]).into_data();
        let kind = if cfg.encoder_global_attn_indexes.contains(&i) {
            "global"
        } else {
            "window"
        };
        println!("block {i:2} {kind} {:.3}s", t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let out = enc.forward_neck(h);
    let _ = out.slice([0..1, 0..1, 0..1]).into_data();
    println!("neck {:.3}s", t.elapsed().as_secs_f64());
    println!("total {:.3}s", total.elapsed().as_secs_f64());
}
