//! Every estimator runs from one config list at the ViT-B geometry (`SamConfig::vit_b()`,
//! random weights): the ViT-B encoder runs once and its embedding is shared by every estimator
//! (and by the Laplace fits); only TTA re-runs it, with S = 2 and the identity view (one more
//! encoder pass). Fitted state (ensemble member, variance network, three Laplace posteriors) goes
//! through the real `Fit` / `Persist` path in a temporary directory.

use std::time::Instant;

use image::{Rgb, RgbImage};
use uncertsam_estimate::{CallCounter, EncodedImage, EstimatorConfig, Segmenter};
use uncertsam_sam::{PromptBatch, Sam, SamConfig};

use crate::estimators::{all_configs, all_maps};
use crate::{TestBackend, check_estimate, rng};

#[test]
fn every_estimator_runs_at_the_vit_b_geometry_from_one_config() {
    let start = Instant::now();
    let device = Default::default();
    let sam = Sam::<TestBackend>::new(&SamConfig::vit_b(), &device).expect("vit_b");
    let (h, w) = (48u32, 64u32);
    let pixels = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(4 * x) as u8, (5 * y) as u8, ((x * y) % 251) as u8])
    });
    let image = EncodedImage::new(&sam as &dyn Segmenter<TestBackend>, pixels);
    eprintln!(
        "vit_b: model + one encoder pass {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let prompts = PromptBatch::new().with_box([8.0, 6.0, 50.0, 40.0]);
    let dir = tempfile::tempdir().expect("tempdir");
    let configs: Vec<EstimatorConfig> = all_configs(&sam, &image, &prompts, dir.path(), false)
        .into_iter()
        .filter_map(|c| match c {
            // One TTA config, S = 2 with the identity view: a single extra encoder pass (TTA's
            // encoder accounting is covered in full on the tiny fixture).
            EstimatorConfig::Tta(mut t) if t.hflip => {
                t.samples = 2;
                Some(EstimatorConfig::Tta(t))
            }
            EstimatorConfig::Tta(_) => None,
            other => Some(other),
        })
        .collect();
    assert_eq!(configs.len(), 12);
    for config in configs {
        let t = Instant::now();
        let estimator = config.build(&sam).expect("build");
        let name = estimator.name();
        let counter = CallCounter::new(&sam);
        let est = estimator
            .estimate(&counter, &image, &prompts, &mut rng(7))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_estimate(&name, &est, 1, 256);
        let tta = matches!(config, EstimatorConfig::Tta(_));
        assert_eq!(counter.embeds(), usize::from(tta), "{name}: encoder passes");
        // Seed 7 twice gives the same bits (TTA's determinism is checked on the tiny fixture,
        // sparing two ViT-B encoder passes here).
        if !tta {
            let again = estimator
                .estimate(&sam, &image, &prompts, &mut rng(7))
                .expect("again");
            assert!(
                all_maps(&est) == all_maps(&again),
                "{name}: not reproducible"
            );
        }
        eprintln!("vit_b: {name} {:.1} s", t.elapsed().as_secs_f64());
    }
    eprintln!("vit_b: total {:.1} s", start.elapsed().as_secs_f64());
}
