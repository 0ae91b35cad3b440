//! Speed regression guard (run by `cargo test`, so by CI): the tiny geometry's image encoder
//! and its prompt encoder + mask decoder, each as a ratio to one plain GEMM of about the
//! encoder's FLOPs (0.044 GFLOP, counted by `torch.utils.flop_counter` in
//! `benches/pytorch_reference.py`: a 280 x 280 x 280 product, 0.0439 GFLOP), timed interleaved
//! in this process. The fastest of many calls of each is compared, so a machine that is busy
//! with something else slows both sides alike; a change that makes the model about 2x slower
//! relative to the GEMM kernel turns this red (a round over the limits is measured again, up to three rounds). The limits are 1.6x the ratios measured on the
//! project machine (docs/performance.md, "Regression guard"); the absolute speed is
//! `cargo xtask perf`'s business.

use std::time::Instant;

use burn::backend::NdArray;
use burn::prelude::*;
use burn::tensor::Distribution;
use uncertsam_estimate::Segmenter;
use uncertsam_sam::{Embedding, PromptBatch, Sam, SamConfig};

type B = NdArray<f32>;

/// The limits: 1.6 x the ratios measured on the 2-core project machine.
const ENCODER_LIMIT: f64 = 1.6 * ENCODER_MEASURED;
const DECODER_LIMIT: f64 = 1.6 * DECODER_MEASURED;
/// Measured on the project machine (fastest call / fastest GEMM), see the module docs.
/// (2026-12-06, idle: encoder 12.7-14.2x, decoder 5.9-7.6x over four runs; GEMM 0.42-0.49 ms).
const ENCODER_MEASURED: f64 = 13.0;
const DECODER_MEASURED: f64 = 7.0;
const CALLS: usize = 40;
/// A round over the limits is measured again, up to this many rounds: a real regression fails
/// every round, a burst of load on a shared machine rarely does.
const ROUNDS: usize = 3;

fn fastest(times: &[f64]) -> f64 {
    times.iter().copied().fold(f64::INFINITY, f64::min)
}

fn sync<const D: usize>(t: Tensor<B, D>) {
    let _ = t.flatten::<1>(0, D - 1).narrow(0, 0, 1).into_data();
}

#[test]
fn the_tiny_model_is_not_slower_relative_to_a_plain_gemm_than_it_was() {
    let device = Default::default();
    let sam = Sam::<B>::new(&SamConfig::tiny(), &device).expect("tiny SAM");
    let x = Tensor::<B, 4>::random([1, 3, 256, 256], Distribution::Normal(0.0, 1.0), &device);
    let a = Tensor::<B, 2>::random([280, 280], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<B, 2>::random([280, 280], Distribution::Normal(0.0, 1.0), &device);
    let embedding: Embedding<B> = sam.embed_input(x.clone(), [256, 256], [256, 256]).into();
    let prompts = PromptBatch::new().with_box([40.0, 50.0, 200.0, 180.0]);
    let built = sam.prompts(&prompts, &embedding).expect("prompts");
    let round = || {
        let (mut gemm, mut enc, mut dec) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..CALLS {
            let t = Instant::now();
            sync(a.clone().matmul(b.clone()));
            gemm.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            sync(sam.image_encoder.forward(x.clone()));
            enc.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let d = sam.decode(&embedding, &built, true).expect("decode");
            sync(d.low_res_logits);
            dec.push(t.elapsed().as_secs_f64());
        }
        let g = fastest(&gemm);
        let (re, rd) = (fastest(&enc) / g, fastest(&dec) / g);
        eprintln!(
            "perf guard: GEMM {:.3} ms; encoder {re:.2}x (limit {ENCODER_LIMIT:.2}), decoder \
             {rd:.2}x (limit {DECODER_LIMIT:.2})",
            g * 1e3
        );
        (re, rd)
    };
    let (mut re, mut rd) = round();
    for _ in 1..ROUNDS {
        if re <= ENCODER_LIMIT && rd <= DECODER_LIMIT {
            break;
        }
        (re, rd) = round();
    }
    assert!(
        re <= ENCODER_LIMIT,
        "the tiny encoder takes {re:.2}x a 0.044-GFLOP GEMM, above the guard's {ENCODER_LIMIT:.2}x \
         (it measured {ENCODER_MEASURED}x): a speed regression? (docs/performance.md)"
    );
    assert!(
        rd <= DECODER_LIMIT,
        "the tiny prompt encoder + mask decoder takes {rd:.2}x a 0.044-GFLOP GEMM, above the \
         guard's {DECODER_LIMIT:.2}x (it measured {DECODER_MEASURED}x): a speed regression? \
         (docs/performance.md)"
    );
}
