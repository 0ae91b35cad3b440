//! Calibration of the prediction p against G: binary ECE, Brier score and NLL, as one
//! streaming accumulator whose memory does not grow with the number of pixels.

use serde::Serialize;

use crate::error::{Result, check_same_len};
use crate::inputs::{MaskInputs, check_probabilities};

/// Number of equal-width ECE bins (torchmetrics `BinaryCalibrationError(n_bins=10)`).
pub const ECE_BINS: usize = 10;

/// Lower bound of every log term in the NLL (torch `binary_cross_entropy` clamps `log` at −100).
pub const NLL_LOG_CLAMP: f64 = -100.0;

/// Bin `k` of the reliability diagram; bins are `[k/10, (k+1)/10)` for k < 10 and `{1.0}` for
/// k = 10 (torchmetrics' extra bin, see [`ece_bin`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ReliabilityBin {
    /// Inclusive lower edge (the f32 torch edge, widened to f64).
    pub lower: f64,
    /// Exclusive upper edge; equal to `lower` (1.0) for the last, point bin.
    pub upper: f64,
    /// Pixels in the bin.
    pub count: u64,
    /// Mean p of the bin (0 when empty, torchmetrics' `nan_to_num`).
    pub mean_confidence: f64,
    /// Mean G of the bin, the empirical frequency (0 when empty).
    pub accuracy: f64,
}

/// The torch bin edges `linspace(0, 1, 11, dtype=float32)`: the f32 nearest to k/10.
pub fn ece_edges() -> [f32; ECE_BINS + 1] {
    std::array::from_fn(|k| k as f32 / ECE_BINS as f32)
}

/// The bin torchmetrics puts probability `p` in: `bucketize(p, edges, right=True) − 1`,
/// i.e. the k with `edges[k] <= p < edges[k+1]`, compared in f32. p = 1.0 lands in an
/// eleventh bin (k = 10) of its own, which counts in the ECE like any other.
///
/// `p` must lie in [0, 1] and `edges` increase from `edges[0]` = 0, so that the bin is the
/// number of edges `edges[1..=10]` at most `p` (counted without branches).
#[inline]
pub fn ece_bin(p: f32, edges: &[f32; ECE_BINS + 1]) -> usize {
    edges[1..].iter().map(|&e| usize::from(e <= p)).sum()
}

/// Streaming ECE / Brier / NLL accumulator over any number of pixels, masks or threads.
///
/// Sums are f64; [`CalibrationAccumulator::merge`] is exact up to f64 addition order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CalibrationAccumulator {
    edges: [f32; ECE_BINS + 1],
    count: [u64; ECE_BINS + 1],
    sum_conf: [f64; ECE_BINS + 1],
    sum_acc: [u64; ECE_BINS + 1],
    sum_sq: f64,
    sum_nll: f64,
    n: u64,
}

impl Default for CalibrationAccumulator {
    fn default() -> Self {
        Self::new()
    }
}

impl CalibrationAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self {
            edges: ece_edges(),
            count: [0; ECE_BINS + 1],
            sum_conf: [0.0; ECE_BINS + 1],
            sum_acc: [0; ECE_BINS + 1],
            sum_sq: 0.0,
            sum_nll: 0.0,
            n: 0,
        }
    }

    /// Adds one pixel to the ECE bins and the Brier sum (not to the NLL, see
    /// [`nll_sum`]); `p` must lie in [0, 1].
    #[inline]
    pub(crate) fn push_binned(&mut self, p: f32, g: bool) {
        let k = ece_bin(p, &self.edges);
        let pf = f64::from(p);
        self.count[k] += 1;
        self.sum_conf[k] += pf;
        self.sum_acc[k] += u64::from(g);
        let y = if g { 1.0 } else { 0.0 };
        self.sum_sq += (pf - y) * (pf - y);
        self.n += 1;
    }

    /// An accumulator of `n` pixels from its per-bin counts, Σp and ΣG, and Σ(p − G)², as
    /// [`CalibrationAccumulator::push_binned`] would have summed them (no NLL yet).
    pub(crate) fn from_binned(
        count: [u64; ECE_BINS + 1],
        sum_conf: [f64; ECE_BINS + 1],
        sum_acc: [u64; ECE_BINS + 1],
        sum_sq: f64,
        n: u64,
    ) -> Self {
        Self {
            edges: ece_edges(),
            count,
            sum_conf,
            sum_acc,
            sum_sq,
            sum_nll: 0.0,
            n,
        }
    }

    /// Adds a sum from [`nll_sum`] over the pixels already pushed with `push_binned`.
    pub(crate) fn add_nll_sum(&mut self, sum: f64) {
        self.sum_nll += sum;
    }

    /// Adds every pixel of a mask (probabilities `prob` against ground truth `gt`).
    ///
    /// # Errors
    /// Shape or value errors of [`MaskInputs::validate`].
    pub fn update(&mut self, inputs: &MaskInputs<'_>) -> Result<()> {
        inputs.validate()?;
        self.update_pixels(inputs.prob, inputs.gt)
    }

    /// Adds paired pixels `prob[i]` (in [0, 1]) and `gt[i]` (nonzero = foreground).
    ///
    /// # Errors
    /// [`crate::MetricsError::LengthMismatch`], or a value error when `prob` leaves [0, 1].
    pub fn update_pixels(&mut self, prob: &[f32], gt: &[u8]) -> Result<()> {
        check_same_len("prob", prob.len(), "gt", gt.len())?;
        check_probabilities("prob", prob)?;
        for (&p, &g) in prob.iter().zip(gt) {
            self.push_binned(p, g != 0);
        }
        self.sum_nll += nll_sum(prob, gt);
        Ok(())
    }

    /// Adds another accumulator's pixels.
    pub fn merge(&mut self, other: &Self) {
        for k in 0..=ECE_BINS {
            self.count[k] += other.count[k];
            self.sum_conf[k] += other.sum_conf[k];
            self.sum_acc[k] += other.sum_acc[k];
        }
        self.sum_sq += other.sum_sq;
        self.sum_nll += other.sum_nll;
        self.n += other.n;
    }

    /// Number of pixels seen.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether no pixel was seen.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Binary ECE = Σ_b (n_b / N) |mean(G)_b − mean(p)_b| over the 11 bins of [`ece_bin`]
    /// (torchmetrics `BinaryCalibrationError(n_bins=10, norm="l1")`). NaN without pixels.
    pub fn ece(&self) -> f64 {
        if self.n == 0 {
            return f64::NAN;
        }
        let n = self.n as f64;
        (0..=ECE_BINS)
            .filter(|&k| self.count[k] > 0)
            .map(|k| {
                let c = self.count[k] as f64;
                (self.sum_acc[k] as f64 / c - self.sum_conf[k] / c).abs() * (c / n)
            })
            .sum()
    }

    /// Brier = mean (p − G)². NaN without pixels.
    pub fn brier(&self) -> f64 {
        self.sum_sq / self.n as f64
    }

    /// NLL = −mean[G ln p + (1 − G) ln(1 − p)], each log clamped at −100 as torch's
    /// `binary_cross_entropy` does (so p = 0 with G = 1 costs 100, not ∞). NaN without pixels.
    pub fn nll(&self) -> f64 {
        self.sum_nll / self.n as f64
    }

    /// The reliability diagram: 11 bins, the last being p = 1.0 exactly.
    pub fn bins(&self) -> Vec<ReliabilityBin> {
        (0..=ECE_BINS)
            .map(|k| {
                let c = self.count[k];
                let div = |s: f64| if c == 0 { 0.0 } else { s / c as f64 };
                ReliabilityBin {
                    lower: f64::from(self.edges[k]),
                    upper: f64::from(self.edges[(k + 1).min(ECE_BINS)]),
                    count: c,
                    mean_confidence: div(self.sum_conf[k]),
                    accuracy: div(self.sum_acc[k] as f64),
                }
            })
            .collect()
    }

    /// All pooled values at once.
    pub fn finish(&self) -> PooledCalibration {
        PooledCalibration {
            n_pixels: self.n,
            ece: self.ece(),
            brier: self.brier(),
            nll: self.nll(),
            bins: self.bins(),
        }
    }
}

/// Calibration over every pixel an accumulator saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PooledCalibration {
    /// Number of pixels.
    pub n_pixels: u64,
    /// Binary ECE (see [`CalibrationAccumulator::ece`]).
    pub ece: f64,
    /// Brier score, mean (p − G)².
    pub brier: f64,
    /// Binary cross-entropy with logs clamped at −100.
    pub nll: f64,
    /// Reliability-diagram bins (see [`ReliabilityBin`]).
    pub bins: Vec<ReliabilityBin>,
}

/// Σ −max(ln q, −100) with q = p where G = 1 and 1 − p elsewhere (inputs already checked).
///
/// Four q at a time are multiplied before one `ln` when all exceed 1e-30 (so the product
/// neither underflows nor reaches the clamp); the product's rounding moves each term by
/// about 1e-16, far below the 1e-9 parity tolerance, and makes the NLL about 3× cheaper.
pub(crate) fn nll_sum(prob: &[f32], gt: &[u8]) -> f64 {
    let mut sum = 0.0;
    let (pc, gc) = (prob.chunks_exact(4), gt.chunks_exact(4));
    let (pr, gr) = (pc.remainder(), gc.remainder());
    for (p, g) in pc.zip(gc) {
        sum += nll_log4(p, g);
    }
    for (&p, &g) in pr.iter().zip(gr) {
        sum += nll_log1(p, g);
    }
    -sum
}

/// max(ln q, −100), q = p where G = 1 and 1 − p elsewhere: one term of [`nll_sum`].
#[inline]
pub(crate) fn nll_log1(p: f32, g: u8) -> f64 {
    nll_q(p, g).ln().max(NLL_LOG_CLAMP)
}

#[inline]
fn nll_q(p: f32, g: u8) -> f64 {
    if g != 0 {
        f64::from(p)
    } else {
        1.0 - f64::from(p)
    }
}

/// The log terms of four pixels (`p` and `g` hold 4 values) as [`nll_sum`] adds them.
#[inline]
pub(crate) fn nll_log4(p: &[f32], g: &[u8]) -> f64 {
    let (a, b, c, d) = (
        nll_q(p[0], g[0]),
        nll_q(p[1], g[1]),
        nll_q(p[2], g[2]),
        nll_q(p[3], g[3]),
    );
    let one = |q: f64| q.ln().max(NLL_LOG_CLAMP);
    if a.min(b).min(c.min(d)) > 1e-30 {
        ((a * b) * (c * d)).ln()
    } else {
        one(a) + one(b) + one(c) + one(d)
    }
}

/// Binary ECE of paired pixels (see [`CalibrationAccumulator::ece`]).
///
/// # Errors
/// As [`CalibrationAccumulator::update_pixels`].
pub fn binary_ece(prob: &[f32], gt: &[u8]) -> Result<f64> {
    let mut acc = CalibrationAccumulator::new();
    acc.update_pixels(prob, gt)?;
    Ok(acc.ece())
}

/// Binary ECE of f64 probabilities, binned and summed in f64: the bins are
/// `[k/10, (k+1)/10)` with the f64 edges `k as f64 / 10` (for f32 input use [`binary_ece`],
/// whose f32 edges are torchmetrics'), plus the point bin `{1.0}` (see [`ece_bin`]).
///
/// # Errors
/// Length mismatch, empty input, or a value outside [0, 1] (NaN included).
pub fn binary_ece_f64(prob: &[f64], gt: &[u8]) -> Result<f64> {
    check_probabilities_f64(prob, gt.len())?;
    let edges: [f64; ECE_BINS + 1] = std::array::from_fn(|k| k as f64 / ECE_BINS as f64);
    let (mut count, mut conf, mut acc) = (
        [0u64; ECE_BINS + 1],
        [0f64; ECE_BINS + 1],
        [0u64; ECE_BINS + 1],
    );
    for (&p, &g) in prob.iter().zip(gt) {
        let mut k = ((p * ECE_BINS as f64) as usize).min(ECE_BINS);
        while k < ECE_BINS && p >= edges[k + 1] {
            k += 1;
        }
        while k > 0 && p < edges[k] {
            k -= 1;
        }
        count[k] += 1;
        conf[k] += p;
        acc[k] += u64::from(g != 0);
    }
    let n = prob.len() as f64;
    Ok((0..=ECE_BINS)
        .filter(|&k| count[k] > 0)
        .map(|k| {
            let c = count[k] as f64;
            (acc[k] as f64 / c - conf[k] / c).abs() * (c / n)
        })
        .sum())
}

/// Brier score mean (p − G)² of f64 probabilities (nonzero `gt` = foreground), in f64
/// (scikit-learn's `brier_score_loss`).
///
/// # Errors
/// Length mismatch, empty input, or a value outside [0, 1] (NaN included).
pub fn brier_f64(prob: &[f64], gt: &[u8]) -> Result<f64> {
    check_probabilities_f64(prob, gt.len())?;
    let sum: f64 = prob
        .iter()
        .zip(gt)
        .map(|(&p, &g)| {
            let d = p - if g != 0 { 1.0 } else { 0.0 };
            d * d
        })
        .sum();
    Ok(sum / prob.len() as f64)
}

fn check_probabilities_f64(prob: &[f64], gt_len: usize) -> Result<()> {
    check_same_len("prob", prob.len(), "gt", gt_len)?;
    if prob.is_empty() {
        return Err(crate::MetricsError::Empty { name: "prob" });
    }
    crate::error::check_finite("prob", prob)?;
    match prob.iter().position(|&p| !(0.0..=1.0).contains(&p)) {
        None => Ok(()),
        Some(index) => Err(crate::MetricsError::NotAProbability {
            name: "prob",
            index,
            value: prob[index],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_torch_bucketize_right_including_the_edges() {
        let e = ece_edges();
        assert_eq!(ece_bin(0.0, &e), 0);
        assert_eq!(ece_bin(0.1, &e), 1);
        assert_eq!(ece_bin(0.099_999_99, &e), 0);
        assert_eq!(ece_bin(0.7, &e), 7);
        assert_eq!(ece_bin(0.999_999_94, &e), 9);
        assert_eq!(ece_bin(1.0, &e), 10);
    }

    #[test]
    fn merging_two_halves_equals_one_pass() {
        let p = [0.1f32, 0.5, 0.93, 1.0, 0.0, 0.42];
        let g = [0u8, 1, 1, 1, 0, 0];
        let mut whole = CalibrationAccumulator::new();
        whole.update_pixels(&p, &g).expect("valid");
        let mut a = CalibrationAccumulator::new();
        let mut b = CalibrationAccumulator::new();
        a.update_pixels(&p[..3], &g[..3]).expect("valid");
        b.update_pixels(&p[3..], &g[3..]).expect("valid");
        a.merge(&b);
        assert_eq!(a.finish(), whole.finish());
    }

    #[test]
    fn nll_of_a_confident_miss_is_the_clamp() {
        let mut acc = CalibrationAccumulator::new();
        acc.update_pixels(&[0.0], &[1]).expect("valid");
        assert_eq!(acc.nll(), 100.0);
    }

    #[test]
    fn f64_ece_and_brier_agree_with_f32_away_from_the_edges() {
        let p = [0.05f32, 0.55, 0.93, 1.0, 0.0, 0.42, 0.37];
        let g = [0u8, 1, 1, 1, 0, 0, 1];
        let wide: Vec<f64> = p.iter().map(|&v| f64::from(v)).collect();
        let mut acc = CalibrationAccumulator::new();
        acc.update_pixels(&p, &g).expect("valid");
        assert!((binary_ece_f64(&wide, &g).expect("valid") - acc.ece()).abs() < 1e-15);
        assert!((brier_f64(&wide, &g).expect("valid") - acc.brier()).abs() < 1e-15);
        assert!(brier_f64(&[], &[]).is_err());
        assert!(binary_ece_f64(&[1.5], &[1]).is_err());
    }

    #[test]
    fn an_empty_accumulator_reports_nan() {
        let f = CalibrationAccumulator::new().finish();
        assert!(f.ece.is_nan() && f.brier.is_nan() && f.nll.is_nan());
    }
}
