//! The convergence stop shared by every mask-prompt refinement: re-decode until the binary
//! masks of two successive passes agree (IoU > `agreement`) or `max_iterations` is reached,
//! each mask on its own.

use serde::{Deserialize, Serialize};

use crate::error::RefineError;

/// When iterative refinement stops.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// Most refinement passes per mask (0 returns the first pass unchanged; the paper uses 1).
    pub max_iterations: usize,
    /// A mask stops once IoU(previous, current) exceeds this (the paper: 0.99).
    pub agreement: f32,
}

impl Default for Convergence {
    fn default() -> Self {
        Self {
            max_iterations: 1,
            agreement: 0.99,
        }
    }
}

/// The result of [`iterate_until_converged`], one entry per mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Iterated {
    /// Final logits.
    pub logits: Vec<Vec<f32>>,
    /// Passes run.
    pub iterations: Vec<usize>,
    /// IoU between the masks before and after each pass.
    pub agreements: Vec<Vec<f32>>,
}

/// IoU of the binary masks `logit > 0` of two logit maps; 1 when both are empty.
pub fn mask_iou(a: &[f32], b: &[f32]) -> f32 {
    uncertsam_sam::frame::binary_iou(a.iter().zip(b).map(|(&x, &y)| (x > 0.0, y > 0.0))) as f32
}

/// Runs `step` until every mask has converged or run `max_iterations` passes.
///
/// `step(iteration, rows, logits)` refines the masks `rows` (indices into `start`) whose
/// current logits are `logits`, and returns their new logits in the same order. A converged
/// mask is not refined again.
pub fn iterate_until_converged<F>(
    start: Vec<Vec<f32>>,
    convergence: &Convergence,
    mut step: F,
) -> Result<Iterated, RefineError>
where
    F: FnMut(usize, &[usize], &[Vec<f32>]) -> Result<Vec<Vec<f32>>, RefineError>,
{
    let n = start.len();
    let mut out = Iterated {
        logits: start,
        iterations: vec![0; n],
        agreements: vec![Vec::new(); n],
    };
    let mut active: Vec<usize> = (0..n).collect();
    for iteration in 0..convergence.max_iterations {
        if active.is_empty() {
            break;
        }
        let current: Vec<Vec<f32>> = active.iter().map(|&r| out.logits[r].clone()).collect();
        let next = step(iteration, &active, &current)?;
        if next.len() != active.len() {
            return Err(RefineError::Input(format!(
                "refinement step returned {} masks for {} inputs",
                next.len(),
                active.len()
            )));
        }
        let mut still = Vec::new();
        for (&r, logits) in active.iter().zip(next) {
            let agreement = mask_iou(&out.logits[r], &logits);
            out.logits[r] = logits;
            out.iterations[r] += 1;
            out.agreements[r].push(agreement);
            if agreement <= convergence.agreement {
                still.push(r);
            }
        }
        active = still;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mask of `k` positive pixels out of 200.
    fn mask(k: usize) -> Vec<f32> {
        (0..200).map(|i| if i < k { 1.0 } else { -1.0 }).collect()
    }

    #[test]
    fn iteration_stops_once_successive_masks_agree() {
        // Mask 0 grows toward 100 pixels, halving the gap: 20, 60, 80, 90, 95, 98, 99, 100, 100
        // (successive IoUs 0.33 ... 0.9899, 0.99, 1.0), so it stops after 8 passes. Mask 1 is
        // already at its fixed point and stops after one.
        let conv = Convergence {
            max_iterations: 50,
            agreement: 0.99,
        };
        let target = [100usize, 101];
        let mut calls = Vec::new();
        let out = iterate_until_converged(vec![mask(20), mask(101)], &conv, |it, rows, cur| {
            calls.push((it, rows.to_vec()));
            Ok(rows
                .iter()
                .zip(cur)
                .map(|(&r, l)| {
                    let k = l.iter().filter(|&&x| x > 0.0).count();
                    mask(k + (target[r] - k).div_ceil(2))
                })
                .collect())
        })
        .expect("iterate");
        for (r, a) in out.agreements.iter().enumerate() {
            // Stopped at the first agreement above 0.99, and not before.
            let (last, before) = a.split_last().expect("at least one pass");
            assert!(*last > 0.99, "mask {r}: {a:?}");
            assert!(before.iter().all(|&x| x <= 0.99), "mask {r}: {a:?}");
            assert_eq!(out.iterations[r], a.len());
        }
        assert_eq!(out.iterations[1], 1);
        assert_eq!(out.iterations[0], 8);
        // The converged mask was not decoded again.
        assert!(calls.iter().skip(1).all(|(_, rows)| rows == &vec![0]));
    }

    #[test]
    fn the_iteration_cap_holds_and_zero_iterations_is_the_identity() {
        let flip = |_: usize, _: &[usize], cur: &[Vec<f32>]| {
            Ok(cur.iter().map(|l| l.iter().map(|x| -x).collect()).collect())
        };
        let conv = Convergence {
            max_iterations: 3,
            agreement: 0.99,
        };
        let out = iterate_until_converged(vec![mask(50)], &conv, flip).expect("iterate");
        assert_eq!(out.iterations, vec![3]);
        assert_eq!(out.agreements[0], vec![0.0; 3]);
        let zero = Convergence {
            max_iterations: 0,
            ..conv
        };
        let out = iterate_until_converged(vec![mask(50)], &zero, flip).expect("iterate");
        assert_eq!(out.logits, vec![mask(50)]);
        assert_eq!(out.iterations, vec![0]);
    }

    #[test]
    fn mask_iou_counts_positive_logits() {
        assert_eq!(mask_iou(&[1.0, 1.0, -1.0], &[1.0, -1.0, -1.0]), 0.5);
        assert_eq!(mask_iou(&[-1.0, 0.0], &[-2.0, 0.0]), 1.0);
    }
}
