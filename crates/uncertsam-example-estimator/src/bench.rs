//! The estimator registered with the benchmark: [`TemperatureScalingPlugin`] is the
//! [`ExternalEstimators`] this crate's binary (`uncertsam-example`) passes to
//! [`uncertsam_bench::run_with`], so `uncertsam-example bench` runs the whole benchmark with
//! `temperature` beside the built-in estimators.

use anyhow::{Context, Result};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use uncertsam_bench::{BuildContext, ExternalEstimators, ExternalPreset};
use uncertsam_estimate::{ExternalConfig, Fit, UncertaintyEstimator};

use crate::TemperatureScalingConfig;

/// Registers `temperature`: temperature scaling fitted on `fit_images` clean training images
/// of the run's data (tight box prompts), each time a run builds it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TemperatureScalingPlugin;

/// Its name in `--estimators`.
pub const NAME: &str = "temperature";

impl ExternalEstimators for TemperatureScalingPlugin {
    fn presets(&self) -> Vec<ExternalPreset> {
        vec![ExternalPreset {
            name: NAME.into(),
            about: "temperature scaling of SAM's logits, fitted by grid search on the pixel NLL"
                .into(),
            params: serde_json::json!({ "fit_images": 8 }),
        }]
    }

    fn build<B: Backend>(
        &self,
        config: &ExternalConfig,
        ctx: &BuildContext<'_, B>,
    ) -> Result<Box<dyn UncertaintyEstimator<B>>> {
        let images = config
            .params
            .get("fit_images")
            .and_then(serde_json::Value::as_u64)
            .context("`fit_images` must be a non-negative integer")?;
        let images = usize::try_from(images).context("`fit_images` is too large")?;
        let mut data = ctx.fit_samples(images)?;
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.args.seed);
        let fitted = Fit::<B>::fit(
            &TemperatureScalingConfig::default(),
            ctx.model,
            &mut data,
            &mut rng,
        )
        .context("fitting the temperature")?;
        Ok(Box::new(fitted))
    }
}
