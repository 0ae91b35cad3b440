//! Integration tests on the tiny fixture model (`fixtures/sam/tiny_256`): the identity cases,
//! click refinement, the configs, and training of the fusion module; the same on SAM 2
//! (`fixtures/sam2/hiera_t_256`, `sam2.rs`).

mod fusion;
mod refine;
mod sam2;

use std::path::PathBuf;

use burn::prelude::*;
use uncertsam_refine::{FirstPass, logit_entropy};
use uncertsam_sam::{Embedding, PromptBatch, Sam, SamConfig};

/// The backend the tests run on.
pub type TestBackend = burn::backend::NdArray<f32>;

/// The autodiff backend of the training test.
pub type TestAutodiff = burn::backend::Autodiff<TestBackend>;

/// The tiny fixture model and its encoded 300 x 200 image.
pub fn tiny() -> (Sam<TestBackend>, Embedding<TestBackend>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sam/tiny_256");
    let cfg: SamConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("parse config");
    let sam = Sam::new(&cfg, &Default::default())
        .expect("sam")
        .load_checkpoint(dir.join("model.safetensors"))
        .expect("load");
    let image = image::open(dir.join("image.png")).expect("image").to_rgb8();
    let embedding = Embedding::from(sam.embed(&image));
    (sam, embedding)
}

/// Two box prompts on the tiny image.
pub fn boxes() -> PromptBatch {
    PromptBatch::new()
        .with_box([60.0, 40.0, 240.0, 170.0])
        .with_box([10.0, 10.0, 120.0, 100.0])
}

/// Ground truth for the two boxes: an ellipse inside each, row-major at 200 x 300.
pub fn ground_truth(emb: &Embedding<TestBackend>) -> Vec<Vec<bool>> {
    let [h, w] = emb.original_size;
    boxes()
        .rows
        .iter()
        .map(|r| {
            let [x0, y0, x1, y1] = r.bbox.expect("box");
            let (cx, cy, rx, ry) = (
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0,
                (x1 - x0) / 2.0,
                (y1 - y0) / 2.0,
            );
            (0..h * w)
                .map(|i| {
                    let (x, y) = ((i % w) as f64, (i / w) as f64);
                    ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
                })
                .collect()
        })
        .collect()
}

/// SAM's box-prompted first pass, with its own entropy (or zeros) as the uncertainty.
pub fn first_pass(
    sam: &Sam<TestBackend>,
    emb: &Embedding<TestBackend>,
    zero_uncertainty: bool,
) -> FirstPass<TestBackend> {
    let prompts = boxes().build(sam, emb).expect("prompts");
    let out = sam.decode(emb, &prompts, false).expect("decode");
    let [b, _, h, w] = out.low_res_logits.dims();
    let logits = out.low_res_logits.reshape([b, h, w]);
    let values: Vec<f32> = logits.to_data().to_vec().expect("f32");
    let u: Vec<f32> = values
        .iter()
        .map(|&l| {
            if zero_uncertainty {
                0.0
            } else {
                logit_entropy(l)
            }
        })
        .collect();
    let uncertainty = Tensor::from_data(TensorData::new(u, [b, h, w]), &sam.device());
    FirstPass {
        logits,
        uncertainty,
    }
}

/// The values of a tensor.
pub fn values<const D: usize>(t: Tensor<TestBackend, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("f32 tensor")
}
