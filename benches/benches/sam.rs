//! Encoder and decoder wall time at the tiny (256 px) and vit_b (1024 px) geometries, random
//! weights. Run with `cargo bench -p uncertsam-benches`; `SAM_BENCH_GEOMETRIES=tiny` skips vit_b.
//! Compare with `python benches/pytorch_reference.py` run in the same session.

use std::hint::black_box;
use std::time::Duration;

use burn::backend::NdArray;
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};

type B = NdArray<f32>;

fn geometries() -> Vec<(&'static str, SamConfig)> {
    let wanted = std::env::var("SAM_BENCH_GEOMETRIES").unwrap_or_else(|_| "tiny,vit_b".into());
    wanted
        .split(',')
        .filter_map(|n| {
            SamConfig::preset(n.trim())
                .map(|c| (if n.trim() == "tiny" { "tiny" } else { "vit_b" }, c))
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    uncertsam_bench::alloc::keep_freed_memory();
    uncertsam_bench::gemm_threads::one_thread_per_gemm();
    let device = Default::default();
    for (name, cfg) in geometries() {
        let sam = Sam::<B>::new(&cfg, &device).expect("valid preset");
        let s = cfg.img_size;
        let input = Tensor::<B, 4>::random(
            [1, 3, s, s],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let mut group = c.benchmark_group(format!("sam_{name}"));
        group.sample_size(10);
        if name == "vit_b" {
            group
                .measurement_time(Duration::from_secs(120))
                .warm_up_time(Duration::from_secs(1));
        }
        group.bench_function("encoder", |b| {
            b.iter(|| {
                let e = sam.embed_input(input.clone(), [s, s], [s, s]);
                black_box(e.embeddings.into_data())
            })
        });
        let emb = sam.embed_input(input.clone(), [s, s], [s, s]);
        let f = s as f64;
        for (label, batch) in [
            (
                "decoder_point",
                PromptBatch::new().with_points(vec![([0.5 * f, 0.4 * f], 1)]),
            ),
            (
                "decoder_box",
                PromptBatch::new().with_box([0.2 * f, 0.2 * f, 0.7 * f, 0.8 * f]),
            ),
        ] {
            let prompts = batch.build(&sam, &emb).expect("prompts");
            group.bench_function(label, |b| {
                b.iter(|| {
                    let out = sam.decode(&emb, &prompts, true).expect("decode");
                    black_box(out.low_res_logits.into_data())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
