//! All per-mask metrics of one 1024×1024 mask (`cargo bench -p uncertsam-metrics --bench per_mask`).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uncertsam_metrics::{MaskInputs, mask_metrics};

/// One synthetic mask's maps.
struct Synthetic {
    pred: Vec<u8>,
    gt: Vec<u8>,
    prob: Vec<f32>,
    unc: Vec<f32>,
    std: Vec<f32>,
}

/// A disc-shaped GT, a shifted disc prediction and smooth, noisy p and u maps (the same mask
/// as `fixtures/metrics/time_python.py`).
fn synthetic(side: usize) -> Synthetic {
    let n = side * side;
    let (mut gt, mut pred) = (vec![0u8; n], vec![0u8; n]);
    let (mut prob, mut unc, mut std) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let c = side as f32 / 2.0;
    let radius = side as f32 / 4.0;
    for i in 0..side {
        for j in 0..side {
            let k = i * side + j;
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.3;
            let dg = ((i as f32 - c).powi(2) + (j as f32 - c).powi(2)).sqrt() - radius;
            let dp = ((i as f32 - c - 9.0).powi(2) + (j as f32 - c + 5.0).powi(2)).sqrt() - radius;
            gt[k] = u8::from(dg < 0.0);
            let logit = -dp / 8.0 + noise;
            let p = 1.0 / (1.0 + (-logit).exp());
            prob[k] = p;
            pred[k] = u8::from(logit > 0.0);
            let q = p.clamp(1e-7, 1.0 - 1e-7);
            unc[k] = -q * q.ln() - (1.0 - q) * (1.0 - q).ln();
            std[k] = 0.5 * unc[k];
        }
    }
    Synthetic {
        pred,
        gt,
        prob,
        unc,
        std,
    }
}

fn per_mask(c: &mut Criterion) {
    let side = 1024;
    let m = synthetic(side);
    let inputs = MaskInputs::new(&m.pred, &m.gt, &m.prob, &m.unc, side, side).with_std(&m.std);
    c.bench_function("mask_metrics_1024x1024", |b| {
        b.iter(|| mask_metrics(black_box(&inputs)).expect("valid inputs"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = per_mask
}
criterion_main!(benches);
