//! The benchmark mask: one synthetic 2-D mask with its probability, uncertainty and std maps,
//! shared by the criterion bench (`benches/per_mask.rs`), `cargo xtask perf`'s metrics row and
//! the Python reference timing (`fixtures/metrics/time_python.py`, which builds the same maps
//! with the same LCG noise in f32).

/// The maps of [`disc_mask`], row-major, `side * side` values each.
#[derive(Clone, Debug)]
pub struct SyntheticMask {
    /// The predicted mask (`logit > 0`).
    pub pred: Vec<u8>,
    /// The ground truth: a disc.
    pub gt: Vec<u8>,
    /// The predicted probability: a shifted disc's smooth edge plus noise.
    pub prob: Vec<f32>,
    /// The binary entropy of `prob`.
    pub unc: Vec<f32>,
    /// Half of `unc`.
    pub std: Vec<f32>,
}

/// A disc-shaped ground truth of radius `side / 4`, a prediction shifted by (9, -5) pixels with a
/// logistic edge of scale 8 and uniform noise of width 0.3 on the logit (a 64-bit LCG).
pub fn disc_mask(side: usize) -> SyntheticMask {
    let n = side * side;
    let (mut gt, mut pred) = (vec![0u8; n], vec![0u8; n]);
    let (mut prob, mut unc, mut std) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let c = side as f32 / 2.0;
    let radius = side as f32 / 4.0;
    for i in 0..side {
        for j in 0..side {
            let k = i * side + j;
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let noise = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.3;
            let dg = ((i as f32 - c).powi(2) + (j as f32 - c).powi(2)).sqrt() - radius;
            let dp = ((i as f32 - c - 9.0).powi(2) + (j as f32 - c + 5.0).powi(2)).sqrt() - radius;
            gt[k] = u8::from(dg < 0.0);
            let logit = -dp / 8.0 + noise;
            let p = 1.0 / (1.0 + (-logit).exp());
            prob[k] = p;
            pred[k] = u8::from(logit > 0.0);
            let q = p.clamp(1e-7, 1.0 - 1e-7);
            unc[k] = -q * q.ln() - (1.0 - q) * (1.0 - q).ln();
            std[k] = 0.5 * unc[k];
        }
    }
    SyntheticMask {
        pred,
        gt,
        prob,
        unc,
        std,
    }
}
