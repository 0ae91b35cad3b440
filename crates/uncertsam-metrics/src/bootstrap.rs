//! Seeded percentile-bootstrap confidence intervals of means over masks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::error::{MetricsError, Result};

/// How to bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BootstrapConfig {
    /// Number of resamples B (default 1000).
    pub resamples: usize,
    /// Two-sided confidence level in (0, 1) (default 0.95).
    pub level: f64,
    /// Seed of the `ChaCha8Rng` that draws the resamples (default 0).
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

/// A two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConfidenceInterval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// Mean of the non-NaN values and their number (pandas' `mean`); NaN if there is none.
pub fn nan_mean(values: &[f64]) -> (f64, usize) {
    let (sum, n) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), &v| (s + v, n + 1));
    (if n == 0 { f64::NAN } else { sum / n as f64 }, n)
}

/// Percentile-bootstrap intervals of the NaN-skipping mean ([`nan_mean`]) of every column.
///
/// All columns must have the same length n (one value per mask). Resample b draws n indices
/// uniformly with replacement from `ChaCha8Rng::seed_from_u64(seed)` (`random_range(0..n)`, in
/// order), and the same index sets serve every column, so the result is a pure function of the
/// inputs and the config. A resample whose drawn values are all NaN is skipped; the bounds are
/// the (1 − level)/2 and (1 + level)/2 quantiles of the resample means with numpy's default
/// linear interpolation. A column whose values are all NaN gets a NaN interval.
///
/// # Errors
/// [`MetricsError::InvalidConfig`] for `resamples == 0` or `level ∉ (0, 1)`;
/// [`MetricsError::Empty`] for no values; [`MetricsError::LengthMismatch`] for ragged columns.
pub fn bootstrap_mean_ci(
    columns: &[&[f64]],
    config: &BootstrapConfig,
) -> Result<Vec<ConfidenceInterval>> {
    if config.resamples == 0 || !(config.level > 0.0 && config.level < 1.0) {
        return Err(MetricsError::InvalidConfig(format!(
            "bootstrap needs resamples >= 1 and 0 < level < 1, got {} and {}",
            config.resamples, config.level
        )));
    }
    let n = columns.first().map_or(0, |c| c.len());
    if n == 0 {
        return Err(MetricsError::Empty {
            name: "bootstrap values",
        });
    }
    if let Some(c) = columns.iter().find(|c| c.len() != n) {
        return Err(MetricsError::LengthMismatch {
            left: "first bootstrap column",
            left_len: n,
            right: "another column",
            right_len: c.len(),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut means: Vec<Vec<f64>> = vec![Vec::with_capacity(config.resamples); columns.len()];
    let mut idx = vec![0usize; n];
    for _ in 0..config.resamples {
        for i in idx.iter_mut() {
            *i = rng.random_range(0..n);
        }
        for (col, out) in columns.iter().zip(means.iter_mut()) {
            let (mut sum, mut k) = (0.0f64, 0usize);
            for &i in &idx {
                let v = col[i];
                if !v.is_nan() {
                    sum += v;
                    k += 1;
                }
            }
            if k > 0 {
                out.push(sum / k as f64);
            }
        }
    }
    let q = (1.0 - config.level) / 2.0;
    Ok(means
        .into_iter()
        .map(|mut m| {
            m.sort_by(f64::total_cmp);
            ConfidenceInterval {
                low: quantile(&m, q),
                high: quantile(&m, 1.0 - q),
            }
        })
        .collect())
}

/// numpy's default (linear) quantile of sorted values; NaN when empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let t = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_of_a_constant_column_is_that_constant() {
        let ci = bootstrap_mean_ci(&[&[0.5; 7]], &BootstrapConfig::default()).expect("valid");
        assert_eq!(
            ci[0],
            ConfidenceInterval {
                low: 0.5,
                high: 0.5
            }
        );
    }

    #[test]
    fn quantile_interpolates_linearly_like_numpy() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
    }

    #[test]
    fn a_zero_level_is_rejected() {
        let config = BootstrapConfig {
            level: 0.0,
            ..Default::default()
        };
        assert!(matches!(
            bootstrap_mean_ci(&[&[1.0]], &config),
            Err(MetricsError::InvalidConfig(_))
        ));
    }
}
