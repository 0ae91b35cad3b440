//! The variance network trains through burn autodiff with SAM frozen, and its weights
//! round-trip through safetensors + JSON.

use burn::module::Module;
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
    let gt = crate::box_gt(&image, &boxes());
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
