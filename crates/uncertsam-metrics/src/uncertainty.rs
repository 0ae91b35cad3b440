//! Uncertainty-versus-error statistics of one mask: the paper's pixel Pearson with its ε,
//! sharpness and mean sample std.

use crate::error::{MetricsError, Result, check_finite, check_same_len};
use crate::inputs::check_probabilities;
use crate::segmentation::EPS;

/// The soft error e = |G − p|, computed in f32 as the paper's float32 tensors do.
pub fn soft_error(prob: &[f32], gt: &[u8]) -> Result<Vec<f32>> {
    check_same_len("prob", prob.len(), "gt", gt.len())?;
    check_probabilities("prob", prob)?;
    Ok(prob
        .iter()
        .zip(gt)
        .map(|(&p, &g)| soft_error_pixel(p, g != 0))
        .collect())
}

#[inline]
pub(crate) fn soft_error_pixel(p: f32, g: bool) -> f32 {
    if g { 1.0 - p } else { p }
}

/// The paper's `pearson_corr`:
/// Σ(u−ū)(e−ē) / (sqrt(Σ(u−ū)²) · sqrt(Σ(e−ē)²) + 1e-6), two-pass in f64.
/// Constant u or e gives 0, not NaN (the ε keeps the denominator positive).
///
/// # Errors
/// Length mismatch, empty input, or a non-finite value.
pub fn paper_pearson(u: &[f32], e: &[f32]) -> Result<f64> {
    check_same_len("unc", u.len(), "soft_err", e.len())?;
    if u.is_empty() {
        return Err(MetricsError::Empty { name: "unc" });
    }
    check_finite("unc", u)?;
    check_finite("soft_err", e)?;
    let mut acc = PearsonSums::default();
    for (&a, &b) in u.iter().zip(e) {
        acc.first(a, b);
    }
    let (mu, me) = acc.means();
    for (&a, &b) in u.iter().zip(e) {
        acc.second(a, b, mu, me);
    }
    Ok(acc.paper_r())
}

/// Two-pass sums for [`paper_pearson`], so callers can fuse them into other pixel loops.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PearsonSums {
    n: u64,
    su: f64,
    se: f64,
    sue: f64,
    suu: f64,
    see: f64,
}

impl PearsonSums {
    /// The sums after a first pass over `n` pixels with Σu = `su` and Σe = `se`.
    pub(crate) fn from_first(n: u64, su: f64, se: f64) -> Self {
        Self {
            n,
            su,
            se,
            ..Self::default()
        }
    }

    /// Adds the second-pass sums Σ(u−ū)(e−ē), Σ(u−ū)², Σ(e−ē)² computed elsewhere.
    pub(crate) fn add_second(&mut self, sue: f64, suu: f64, see: f64) {
        self.sue += sue;
        self.suu += suu;
        self.see += see;
    }

    #[inline]
    pub(crate) fn first(&mut self, u: f32, e: f32) {
        self.n += 1;
        self.su += f64::from(u);
        self.se += f64::from(e);
    }

    /// Means of u and e after the first pass (NaN without pixels).
    pub(crate) fn means(&self) -> (f64, f64) {
        (self.su / self.n as f64, self.se / self.n as f64)
    }

    #[inline]
    pub(crate) fn second(&mut self, u: f32, e: f32, mu: f64, me: f64) {
        let (a, b) = (f64::from(u) - mu, f64::from(e) - me);
        self.sue += a * b;
        self.suu += a * a;
        self.see += b * b;
    }

    /// The paper's r; NaN without pixels (the mean of an empty set).
    pub(crate) fn paper_r(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        self.sue / (self.suu.sqrt() * self.see.sqrt() + EPS)
    }
}

/// Sharpness = mean u (also used for the mean sample std). NaN for an empty slice.
pub fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_pearson_of_a_constant_map_is_zero() {
        let r = paper_pearson(&[0.3; 4], &[0.1, 0.2, 0.3, 0.4]).expect("valid");
        assert_eq!(r, 0.0);
    }

    #[test]
    fn paper_pearson_is_slightly_below_one_for_identical_maps() {
        let v = [0.0f32, 1.0, 2.0, 3.0];
        let r = paper_pearson(&v, &v).expect("valid");
        assert!(r < 1.0 && r > 1.0 - 1e-6, "{r}");
    }
}
