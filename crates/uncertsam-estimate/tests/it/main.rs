//! Integration tests of the estimators on the tiny fixture model (`fixtures/sam/tiny_256`) and
//! on a ViT-B-geometry decoder with random weights.

mod estimators;
mod laplace;
mod properties;
mod sam2;
mod variance;
mod vit_b;

use std::path::PathBuf;

use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_estimate::{EncodedImage, Estimate, FitSample};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};

/// The backend the tests run on.
pub type TestBackend = burn::backend::NdArray<f32>;

/// The autodiff backend of the training tests.
pub type TestAutodiff = burn::backend::Autodiff<TestBackend>;

/// The SAM fixture directory `name`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/sam")
        .join(name)
}

/// A fixture model and its image.
pub fn load(name: &str) -> (Sam<TestBackend>, image::RgbImage) {
    let dir = fixture(name);
    let cfg: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse config");
    let sam = Sam::new(&cfg, &Default::default())
        .expect("sam")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    (sam, image)
}

/// The tiny fixture model with its encoded image.
pub fn tiny() -> (Sam<TestBackend>, EncodedImage<TestBackend>) {
    let (sam, image) = load("tiny_256");
    let encoded = EncodedImage::new(&sam, image);
    (sam, encoded)
}

/// Two box prompts on the 300 x 200 tiny image.
pub fn boxes() -> PromptBatch {
    PromptBatch::new()
        .with_box([60.0, 40.0, 240.0, 170.0])
        .with_box([10.0, 10.0, 120.0, 100.0])
}

/// Ground truth for `prompts`' boxes on `image`: the inside of each box, `[b, h, w]`.
pub fn box_gt(image: &EncodedImage<TestBackend>, prompts: &PromptBatch) -> Tensor<TestBackend, 3> {
    let [h, w] = image.embedding.original_size;
    let gt: Vec<f32> = prompts
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
    let b = prompts.rows.len();
    Tensor::from_data(TensorData::new(gt, [b, h, w]), &Default::default())
}

/// A fitting sample: `prompts` on `image`, ground truth the inside of each box.
pub fn fit_sample(
    image: &EncodedImage<TestBackend>,
    prompts: &PromptBatch,
) -> FitSample<TestBackend> {
    FitSample {
        image: image.clone(),
        prompts: prompts.clone(),
        gt: box_gt(image, prompts),
    }
}

/// A seeded rng.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The values of a tensor.
pub fn values<const D: usize>(t: Tensor<TestBackend, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("f32 tensor")
}

/// Largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Checks the invariants every estimate satisfies: shapes, finiteness, `H ≤ ln 2`, `MI ≥ 0`,
/// `std ≥ 0`, probabilities in `[0, 1]`.
pub fn check_estimate(name: &str, e: &Estimate<TestBackend>, b: usize, side: usize) {
    assert_eq!(e.prob.dims(), [b, side, side], "{name}");
    assert_eq!(e.logits.dims(), [b, side, side], "{name}");
    assert_eq!(e.iou.dims(), [b], "{name}");
    let prob = values(e.prob.clone());
    let bad = prob.iter().position(|p| !(0.0..=1.0).contains(p));
    assert!(
        bad.is_none(),
        "{name}: prob {:?} at flat pixel {bad:?}",
        bad.map(|i| prob[i])
    );
    assert!(
        values(e.logits.clone()).iter().all(|v| v.is_finite()),
        "{name}: logits"
    );
    let pe = values(e.maps.predictive_entropy.clone());
    let ln2 = std::f32::consts::LN_2 + 1e-6;
    assert!(
        pe.iter().all(|h| (0.0..=ln2).contains(h)),
        "{name}: entropy"
    );
    if let Some(ee) = &e.maps.aleatoric {
        assert!(
            values(ee.clone()).iter().all(|h| (0.0..=ln2).contains(h)),
            "{name}: EE"
        );
    }
    if let Some(mi) = &e.maps.epistemic {
        assert!(
            values(mi.clone())
                .iter()
                .all(|v| *v >= 0.0 && v.is_finite()),
            "{name}: MI"
        );
    }
    if let Some(sd) = &e.maps.std {
        assert!(
            values(sd.clone())
                .iter()
                .all(|v| *v >= 0.0 && v.is_finite()),
            "{name}: std"
        );
    }
    if let Some(lv) = &e.maps.log_variance {
        assert!(
            values(lv.clone()).iter().all(|v| v.abs() <= 5.0),
            "{name}: logvar"
        );
    }
    assert_eq!(e.maps.primary_map().dims(), [b, side, side], "{name}");
}
