//! Closed-form probit predictive vs the plain logit product `m = Eᵀ z` (the decoder's final
//! product), at real SAM scale (K = 32, 256 × 256) and tiny scale (K = 4, 64 × 64).
//!
//! `cargo bench -p uncertsam-laplace --bench predictive`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use uncertsam_laplace::ZPosterior;
use uncertsam_laplace::features::logits_f32;

fn inputs(k: usize, n: usize, diagonal: bool) -> (ZPosterior, Vec<f32>, Vec<f32>) {
    let e: Vec<f32> = (0..k * n)
        .map(|i| ((i * 2654435761usize) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mean: Vec<f64> = (0..k).map(|a| (a as f64 * 0.37).sin()).collect();
    let mut cov = vec![0.0; k * k];
    for a in 0..k {
        for b in 0..k {
            cov[a * k + b] = if a == b {
                0.5
            } else if diagonal {
                0.0
            } else {
                0.1 / (1.0 + (a as f64 - b as f64).abs())
            };
        }
    }
    let z32 = mean.iter().map(|&x| x as f32).collect();
    (ZPosterior { mean, cov }, e, z32)
}

fn bench(c: &mut Criterion) {
    for (label, k, side) in [("real_k32_256x256", 32, 256), ("tiny_k4_64x64", 4, 64)] {
        let n = side * side;
        let (zp, e, z32) = inputs(k, n, false);
        let (zd, _, _) = inputs(k, n, true);
        let mut out = vec![0.0f32; n];
        let mut g = c.benchmark_group(label);
        g.bench_function("logits_only", |b| {
            b.iter(|| logits_f32(black_box(&z32), black_box(&e), &mut out))
        });
        g.bench_function("probit_dense_sigma_z", |b| {
            b.iter(|| zp.probit_into(black_box(&e), &mut out, None, None).unwrap())
        });
        g.bench_function("probit_diagonal_sigma_z", |b| {
            b.iter(|| zd.probit_into(black_box(&e), &mut out, None, None).unwrap())
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
