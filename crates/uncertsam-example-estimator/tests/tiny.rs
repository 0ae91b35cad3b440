//! The example estimator fits, saves, loads and runs on the tiny fixture model, side by side
//! with the built-in estimators.

use std::path::PathBuf;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{
    EncodedImage, EstimatorConfig, Fit, FitSample, Persist, UncertaintyEstimator,
};
use uncertsam_example_estimator::{TemperatureScaled, TemperatureScalingConfig};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};

type B = burn::backend::NdArray<f32>;

#[test]
fn fits_saves_loads_and_estimates_on_the_tiny_fixture() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sam/tiny_256");
    let cfg: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse");
    let sam = Sam::<B>::new(&cfg, &Default::default())
        .expect("sam")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = EncodedImage::new(
        &sam,
        image::open(dir.join("image.png")).expect("image").to_rgb8(),
    );
    let bbox = [60.0, 40.0, 240.0, 170.0];
    let prompts = PromptBatch::new().with_box(bbox);
    let [h, w] = image.embedding.original_size;
    let gt: Vec<f32> = (0..h * w)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            f32::from(u8::from(
                x >= bbox[0] && x <= bbox[2] && y >= bbox[1] && y <= bbox[3],
            ))
        })
        .collect();
    let sample = FitSample {
        image: image.clone(),
        prompts: prompts.clone(),
        gt: Tensor::<B, 3>::from_data(TensorData::new(gt, [1, h, w]), &Default::default()),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let fitted = TemperatureScalingConfig::default()
        .fit(&sam, &mut std::iter::once(sample), &mut rng)
        .expect("fit");
    assert!(fitted.temperature > 0.0);

    let tmp = tempfile::tempdir().expect("tempdir");
    Persist::<B>::save(&fitted, tmp.path()).expect("save");
    let loaded =
        <TemperatureScaled as Persist<B>>::load(tmp.path(), &Default::default()).expect("load");
    assert_eq!(loaded, fitted);

    // Next to the built-ins, as a benchmark would hold them.
    let mut estimators: Vec<Box<dyn UncertaintyEstimator<B>>> = vec![Box::new(loaded)];
    estimators.push(EstimatorConfig::Entropy.build(&sam).expect("entropy"));
    for e in &estimators {
        let est = e
            .estimate(&sam, &image, &prompts, &mut rng)
            .expect("estimate");
        assert_eq!(est.prob.dims(), [1, 64, 64], "{}", e.name());
        let max = est
            .maps
            .predictive_entropy
            .max()
            .into_scalar()
            .elem::<f32>();
        assert!(max <= std::f32::consts::LN_2 + 1e-6, "{}", e.name());
    }
    assert!(estimators[0].name().starts_with("temperature(t="));
}
