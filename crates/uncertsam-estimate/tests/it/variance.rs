//! The variance network trains through burn autodiff with SAM frozen, and its weights
//! round-trip through safetensors + JSON.

use burn::module::Module;
use burn::prelude::*;
use uncertsam_estimate::{
    Persist, Segmenter, TrainSample, UncertaintyEstimator, VarianceNet, VarianceNetConfig,
    VarianceNetEstimator, VarianceTrainConfig, train_variance_net,
};

use crate::{TestAutodiff, TestBackend, boxes, rng, tiny, values};

#[test]
fn a_few_adamw_steps_reduce_the_gaussian_nll() {
    let (sam, image) = tiny();
    let prompts = sam.prompts(&boxes(), &image.embedding).expect("prompts");
    // Ground truth: the inside of each box.
    let [h, w] = image.embedding.original_size;
    let gt: Vec<f32> = boxes()
        .rows
        .iter()
        .flat_map(|r| {
            let [x0, y0, x1, y1] = r.bbox.expect("box");
            (0..h * w).map(move |i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                f32::from(u8::from(x >= x0 && x <= x1 && y >= y0 && y <= y1))
            })
        })
        .collect();
    let gt =
        Tensor::<TestBackend, 3>::from_data(TensorData::new(gt, [2, h, w]), &Default::default());
    let sample = TrainSample {
        embedding: image.embedding.clone(),
        prompts,
        gt,
    };
    let config = VarianceNetConfig::for_sam(&sam);
    let net = VarianceNet::<TestAutodiff>::new(&config, &Default::default());
    let trained = train_variance_net(
        &sam,
        net,
        std::iter::repeat_n(sample, 8),
        &VarianceTrainConfig {
            lr: 1e-3,
            ..VarianceTrainConfig::default()
        },
    )
    .expect("train");
    let l = &trained.losses;
    assert_eq!(l.len(), 8);
    assert!(l.iter().all(|v| v.is_finite()));
    assert!(l[7] < l[0], "loss should fall: {l:?}");

    // Save, load, and estimate with the trained head.
    let est = VarianceNetEstimator {
        net: trained.net,
        config,
        label: "trained".into(),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    est.save(dir.path()).expect("save");
    let loaded =
        VarianceNetEstimator::<TestBackend>::load(dir.path(), &Default::default()).expect("load");
    let a = est
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("estimate");
    let b = loaded
        .estimate(&sam, &image, &boxes(), &mut rng(0))
        .expect("estimate");
    let (a, b) = (
        values(a.maps.log_variance.expect("logvar")),
        values(b.maps.log_variance.expect("logvar")),
    );
    assert_eq!(a, b);
    assert_eq!(loaded.net.num_params(), est.net.num_params());
}
