//! All per-mask metrics of one 1024×1024 mask (`cargo bench -p uncertsam-metrics --bench per_mask`).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uncertsam_metrics::synthetic::disc_mask;
use uncertsam_metrics::{MaskInputs, mask_metrics};

fn per_mask(c: &mut Criterion) {
    let side = 1024;
    let m = disc_mask(side);
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
