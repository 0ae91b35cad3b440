//! Refinement variants on the fixture model: the exact identity cases, click refinement and
//! the config names.

use std::collections::HashSet;

use uncertsam_refine::{
    ClickConfig, Convergence, HostPass, Placement, RefineConfig, Refiner, ShrinkRule,
    UncertainThreshold, UncertaintyUpdate, refine_clicks,
};
use uncertsam_sam::PromptBatch;

use crate::{boxes, first_pass, ground_truth, tiny, values};

fn clicks(placement: Placement, max_clicks: usize) -> RefineConfig {
    RefineConfig::Clicks(ClickConfig {
        placement,
        max_clicks,
        threshold: UncertainThreshold::default(),
        mask_input: false,
        update: UncertaintyUpdate::FirstPass,
        stop_agreement: None,
    })
}

#[test]
fn zero_uncertainty_and_no_refinement_return_the_first_pass() {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, true);
    let gt = ground_truth(&emb);
    let none = Convergence {
        max_iterations: 0,
        agreement: 0.99,
    };
    for config in [
        RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::default(),
            convergence: none,
        },
        RefineConfig::LogitsAsMask { convergence: none },
        clicks(Placement::Uncertainty, 0),
    ] {
        let r = Refiner::new(config.clone(), &sam).expect("refiner");
        let out = r
            .refine(&sam, &emb, &boxes(), &first, Some(&gt), 0)
            .expect("refine");
        assert_eq!(
            values(out.logits),
            values(first.logits.clone()),
            "{}",
            config.name()
        );
        assert_eq!(values(out.uncertainty), values(first.uncertainty.clone()));
        assert_eq!(out.iterations, vec![0, 0]);
    }
    // A zero map gives the uncertainty placement nowhere to click.
    let r = Refiner::new(clicks(Placement::Uncertainty, 3), &sam).expect("refiner");
    let out = r
        .refine(&sam, &emb, &boxes(), &first, Some(&gt), 0)
        .expect("refine");
    assert_eq!(values(out.logits), values(first.logits.clone()));
    assert_eq!(out.iterations, vec![0, 0]);
}

#[test]
fn shrinking_with_zero_uncertainty_is_logits_as_mask() {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, true);
    let conv = Convergence {
        max_iterations: 1,
        agreement: 0.99,
    };
    let run = |c: RefineConfig| {
        let r = Refiner::new(c, &sam).expect("refiner");
        values(
            r.refine(&sam, &emb, &boxes(), &first, None, 0)
                .expect("refine")
                .logits,
        )
    };
    let logits = run(RefineConfig::LogitsAsMask { convergence: conv });
    assert_ne!(logits, values(first.logits.clone()));
    for rule in [
        ShrinkRule::default(),
        ShrinkRule::Threshold {
            threshold: UncertainThreshold::default(),
        },
    ] {
        assert_eq!(
            run(RefineConfig::ShrinkUncertain {
                rule,
                convergence: conv
            }),
            logits
        );
    }
    // With SAM's entropy the mask prompt changes, and so does the refined mask.
    let first_u = first_pass(&sam, &emb, false);
    let r = Refiner::new(
        RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::default(),
            convergence: conv,
        },
        &sam,
    )
    .expect("refiner");
    let out = r
        .refine(&sam, &emb, &boxes(), &first_u, None, 0)
        .expect("refine");
    assert_ne!(values(out.logits), logits);
}

#[test]
fn iterative_refinement_stops_on_agreement_or_the_cap() {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, false);
    let conv = Convergence {
        max_iterations: 6,
        agreement: 0.99,
    };
    let r = Refiner::new(RefineConfig::LogitsAsMask { convergence: conv }, &sam).expect("refiner");
    let out = r
        .refine(&sam, &emb, &boxes(), &first, None, 0)
        .expect("refine");
    assert!(
        out.iterations.iter().all(|&n| (1..=6).contains(&n)),
        "{:?}",
        out.iterations
    );
}

#[test]
fn click_refinement_reports_curves_and_noc() {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, false);
    let gt = ground_truth(&emb);
    let k = 3;
    for placement in [Placement::Uncertainty, Placement::Error, Placement::Random] {
        let r = Refiner::new(clicks(placement, k), &sam).expect("refiner");
        let out = r
            .refine(&sam, &emb, &boxes(), &first, Some(&gt), 7)
            .expect("refine");
        let curves = out.clicks.expect("curves");
        assert_eq!(curves.len(), 2);
        for (c, g) in curves.iter().zip(&gt) {
            assert_eq!(c.ious.len(), k + 1);
            assert!(c.ious.iter().all(|x| (0.0..=1.0).contains(x)));
            assert!(c.noc(0.85) <= k && c.noc(0.90) >= c.noc(0.85));
            assert_eq!(c.noc(0.0), 0);
            assert!(!c.clicks.is_empty(), "{placement:?}");
            for click in &c.clicks {
                assert_eq!(click.positive, g[click.y * 300 + click.x]);
            }
        }
        // Random clicks repeat with the seed.
        if placement == Placement::Random {
            let again = r
                .refine(&sam, &emb, &boxes(), &first, Some(&gt), 7)
                .expect("refine");
            assert_eq!(again.clicks.expect("curves"), curves);
        }
    }
    // Click refinement without a ground truth is an error, not a panic.
    let r = Refiner::new(clicks(Placement::Error, 1), &sam).expect("refiner");
    assert!(r.refine(&sam, &emb, &boxes(), &first, None, 0).is_err());
}

/// All masks clicking together (their prompts decoded in one call per round) give each mask
/// the clicks and curve it gets clicking alone, for the deterministic placements, with and
/// without the mask prompt and the agreement stop.
#[test]
fn batched_clicks_equal_one_mask_at_a_time() {
    let (sam, emb) = tiny();
    let side = sam.config().low_res_size();
    let host = first_pass(&sam, &emb, false).to_host(side).expect("host");
    let gt = ground_truth(&emb);
    let rows = boxes();
    for placement in [Placement::Uncertainty, Placement::Error] {
        for (mask_input, stop_agreement) in [(false, None), (true, Some(0.99))] {
            let config = ClickConfig {
                placement,
                max_clicks: 4,
                threshold: UncertainThreshold::default(),
                mask_input,
                update: UncertaintyUpdate::Entropy,
                stop_agreement,
            };
            let together =
                refine_clicks(&sam, &emb, &rows, &host, &gt, &config, 3).expect("together");
            for (i, curve) in together.iter().enumerate() {
                let one = HostPass {
                    size: host.size,
                    logits: vec![host.logits[i].clone()],
                    uncertainty: vec![host.uncertainty[i].clone()],
                };
                let alone = PromptBatch {
                    rows: vec![rows.rows[i].clone()],
                };
                let single = refine_clicks(&sam, &emb, &alone, &one, &gt[i..=i], &config, 3)
                    .expect("alone")
                    .remove(0);
                let what = format!("{placement:?} mask {i} mask_input {mask_input}");
                assert_eq!(curve.clicks, single.clicks, "{what}");
                assert_eq!(curve.ious.len(), single.ious.len(), "{what}");
                for (a, b) in curve.ious.iter().zip(&single.ious) {
                    assert_eq!(a, b, "{what}");
                }
            }
        }
    }
}

#[test]
fn configs_round_trip_and_have_unique_names() {
    let conv = Convergence::default();
    let configs = vec![
        RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::default(),
            convergence: conv,
        },
        RefineConfig::ShrinkUncertain {
            rule: ShrinkRule::Threshold {
                threshold: UncertainThreshold::Absolute { value: 0.3 },
            },
            convergence: Convergence {
                max_iterations: 5,
                agreement: 0.99,
            },
        },
        clicks(Placement::Uncertainty, 5),
        clicks(Placement::Error, 5),
        clicks(Placement::Random, 5),
        RefineConfig::DenseFusion {
            weights_path: "fusion.safetensors".into(),
            ones_baseline: false,
            convergence: conv,
        },
        RefineConfig::DenseFusion {
            weights_path: "fusion.safetensors".into(),
            ones_baseline: true,
            convergence: conv,
        },
        RefineConfig::LogitsAsMask { convergence: conv },
        RefineConfig::GtOracle { eps: 1e-6 },
    ];
    let names: HashSet<String> = configs.iter().map(RefineConfig::name).collect();
    assert_eq!(names.len(), configs.len(), "{names:?}");
    for c in &configs {
        let json = serde_json::to_string(c).expect("json");
        let back: RefineConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(&back, c);
    }
    let short: RefineConfig = serde_json::from_str(r#"{"kind": "LogitsAsMask"}"#).expect("parse");
    assert_eq!(short, RefineConfig::LogitsAsMask { convergence: conv });
    let c: RefineConfig =
        serde_json::from_str(r#"{"kind": "Clicks", "placement": "Error", "max_clicks": 20}"#)
            .expect("parse");
    assert_eq!(c.name(), "clicks(error,k=20)");
}

#[test]
fn the_gt_oracle_runs_and_needs_the_ground_truth() {
    let (sam, emb) = tiny();
    let first = first_pass(&sam, &emb, false);
    let gt = ground_truth(&emb);
    let r = Refiner::new(RefineConfig::GtOracle { eps: 1e-6 }, &sam).expect("refiner");
    let out = r
        .refine(&sam, &emb, &boxes(), &first, Some(&gt), 0)
        .expect("refine");
    assert_eq!(out.logits.dims(), first.logits.dims());
    assert_eq!(out.iterations, vec![1, 1]);
    assert!(r.refine(&sam, &emb, &boxes(), &first, None, 0).is_err());
}
