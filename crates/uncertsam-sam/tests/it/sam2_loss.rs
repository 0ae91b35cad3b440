//! SAM 2's training loss against the official `MultiStepMultiMasksAndIous`
//! (`training/loss_fns.py`, sam2 1.1.0) on the random inputs of `fixtures/sam2_loss`
//! (`fixtures/sam2_loss/generate.py`): two frames of three objects (one with an empty target),
//! multimask and single-mask steps, three settings.

use std::collections::BTreeMap;

use burn::prelude::*;
use uncertsam_sam::parity::{Array, read_safetensors};
use uncertsam_sam::sam2::loss::{Sam2Frame, Sam2LossConfig, Sam2Step, multi_step_loss};

use crate::TestBackend;

fn tensor<const D: usize>(a: &Array) -> Tensor<TestBackend, D> {
    let shape: [usize; D] = a.shape.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(a.data.clone(), shape), &Default::default())
}

fn frames(f: &BTreeMap<String, Array>) -> Vec<Sam2Frame<TestBackend>> {
    let targets: Tensor<TestBackend, 4> = tensor(&f["targets"]);
    let [t, n, h, w] = targets.dims();
    (0..t)
        .map(|i| {
            let steps = (0..)
                .map_while(|s| {
                    let key = |k: &str| format!("frame{i}.step{s}.{k}");
                    f.get(&key("masks")).map(|masks| Sam2Step {
                        masks: tensor(masks),
                        ious: tensor(&f[&key("ious")]),
                        object_score_logits: tensor(&f[&key("object_score_logits")]),
                    })
                })
                .collect();
            Sam2Frame {
                steps,
                targets: targets.clone().slice(i..i + 1).reshape([n, h, w]),
            }
        })
        .collect()
}

#[test]
fn the_sam2_loss_matches_the_official_multi_step_loss() {
    let path = crate::fixtures().join("../sam2_loss/loss.safetensors");
    let f = read_safetensors(&path).expect("fixture");
    let frames = frames(&f);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].steps.len(), 2);
    assert_eq!(frames[1].steps.len(), 1);
    let official = Sam2LossConfig::default();
    let cases = [
        ("official", official.clone()),
        (
            "mse_best_iou",
            Sam2LossConfig {
                weight_class: 0.0,
                supervise_all_iou: false,
                iou_use_l1_loss: false,
                pred_obj_scores: false,
                ..official.clone()
            },
        ),
        (
            "focal_obj_score",
            Sam2LossConfig {
                weight_mask: 5.0,
                weight_dice: 2.0,
                weight_iou: 0.5,
                weight_class: 3.0,
                supervise_all_iou: false,
                iou_use_l1_loss: true,
                pred_obj_scores: true,
                focal_gamma_obj_score: 2.0,
                focal_alpha_obj_score: Some(0.25),
            },
        ),
    ];
    for (name, config) in cases {
        let l = multi_step_loss(&frames, &config);
        for (key, value) in [
            ("loss_mask", l.mask),
            ("loss_dice", l.dice),
            ("loss_iou", l.iou),
            ("loss_class", l.class),
            ("core_loss", l.core),
        ] {
            let ours: f32 = value.into_scalar();
            let theirs = f[&format!("{name}.{key}")].data[0];
            let tol = 1e-5 * theirs.abs().max(1.0);
            assert!(
                (ours - theirs).abs() <= tol,
                "{name}.{key}: ours {ours}, official {theirs}"
            );
        }
    }
}

/// The object-present gating: with every target empty, only the object-score loss remains.
#[test]
fn empty_targets_leave_only_the_object_score_loss() {
    let d = Default::default();
    let step = Sam2Step::<TestBackend> {
        masks: Tensor::random(
            [2, 3, 4, 4],
            burn::tensor::Distribution::Normal(0.0, 2.0),
            &d,
        ),
        ious: Tensor::full([2, 3], 0.5, &d),
        object_score_logits: Tensor::from_floats([[1.0], [-2.0]], &d),
    };
    let frame = Sam2Frame {
        steps: vec![step],
        targets: Tensor::zeros([2, 4, 4], &d),
    };
    let l = multi_step_loss(&[frame], &Sam2LossConfig::default());
    assert_eq!(l.mask.into_scalar(), 0.0);
    assert_eq!(l.dice.into_scalar(), 0.0);
    assert_eq!(l.iou.into_scalar(), 0.0);
    // BCE against 0, summed over the two objects and divided by them.
    let bce = |x: f32| (1.0 + x.exp()).ln();
    let class: f32 = l.class.into_scalar();
    assert!(
        (class - (bce(1.0) + bce(-2.0)) / 2.0).abs() < 1e-6,
        "{class}"
    );
    assert!((l.core.into_scalar() - class).abs() < 1e-6);
}

/// The trainer's per-image graphs (`uncertsam_train::train_loop`) weight each image's loss by
/// its share of the step's objects: split by objects, the weighted parts sum to the whole.
#[test]
fn object_shares_of_the_loss_sum_to_the_whole_frames_loss() {
    let path = crate::fixtures().join("../sam2_loss/loss.safetensors");
    let f = read_safetensors(&path).expect("fixture");
    let frame = frames(&f).swap_remove(0);
    let n = frame.targets.dims()[0];
    let part = |r: std::ops::Range<usize>| Sam2Frame {
        steps: frame
            .steps
            .iter()
            .map(|s| Sam2Step {
                masks: s.masks.clone().slice(r.clone()),
                ious: s.ious.clone().slice(r.clone()),
                object_score_logits: s.object_score_logits.clone().slice(r.clone()),
            })
            .collect(),
        targets: frame.targets.clone().slice(r),
    };
    let config = Sam2LossConfig::default();
    let whole: f32 = multi_step_loss(std::slice::from_ref(&frame), &config)
        .core
        .into_scalar();
    let shares: f32 = [0..1, 1..n]
        .into_iter()
        .map(|r| {
            let share = r.len() as f32 / n as f32;
            let loss: f32 = multi_step_loss(&[part(r)], &config).core.into_scalar();
            loss * share
        })
        .sum();
    assert!(
        (whole - shares).abs() <= 1e-5 * whole.abs().max(1.0),
        "whole {whole}, weighted parts {shares}"
    );
}
