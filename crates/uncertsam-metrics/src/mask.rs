//! The one-call per-mask API: [`mask_metrics`] → [`MaskMetrics`], every paper column plus ours.

use serde::Serialize;

use crate::boundary::{boundary_iou_unchecked, boundary_radius};
use crate::calibration::{
    CalibrationAccumulator, ECE_BINS, ece_bin, ece_edges, nll_log1, nll_log4,
};
use crate::error::Result;
use crate::inputs::MaskInputs;
use crate::ranking::pixel_ranking;
use crate::roi::dilated_roi_unchecked;
use crate::segmentation::Confusion;
use crate::uncertainty::{PearsonSums, soft_error_pixel};

/// Every metric of one mask, serialised under the paper's CSV column names.
///
/// Columns ending in `_` (fields ending in `_roi`) are restricted to the ROI, the ground truth
/// dilated by a (2d+1)² box, d = ⌈0.02 · diagonal⌉ ([`crate::roi`]); `IoU_` and `dice_` compare
/// P·ROI with G·ROI. NaN marks an undefined value:
/// - `MAE_`, the ROI calibration and uncertainty columns: empty ROI (empty ground truth);
/// - `BIoU_2`, `BIoU_1`: both boundaries empty (e.g. empty P and G);
/// - `avg_sample_std`, `avg_sample_std_`: no std map given;
/// - `spearman`: constant u or constant soft error;
/// - `auroc`: no erroneous pixel (P = G everywhere) or no correct one; `aupr`: no erroneous pixel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MaskMetrics {
    /// `IoU` = |P∧G| / (|P∨G| + ε), ε = 1e-6.
    #[serde(rename = "IoU")]
    pub iou: f64,
    /// `dice` = 2|P∧G| / (|P| + |G| + ε).
    pub dice: f64,
    /// `MAE` = mean |G − P|.
    #[serde(rename = "MAE")]
    pub mae: f64,
    /// `BER` = ½ (FP / (TN + FP + ε) + FN / (TP + FN + ε)).
    #[serde(rename = "BER")]
    pub ber: f64,
    /// `acc` = (TP + TN) / (N + ε).
    pub acc: f64,
    /// `prec` = TP / (TP + FP + ε).
    pub prec: f64,
    /// `rec` = TP / (TP + FN + ε).
    pub rec: f64,
    /// `F1` = 2 · prec · rec / (prec + rec + ε).
    #[serde(rename = "F1")]
    pub f1: f64,
    /// `IoU_`: IoU of P·ROI vs G·ROI.
    #[serde(rename = "IoU_")]
    pub iou_roi: f64,
    /// `dice_`: Dice of P·ROI vs G·ROI.
    #[serde(rename = "dice_")]
    pub dice_roi: f64,
    /// `MAE_`: MAE over ROI pixels.
    #[serde(rename = "MAE_")]
    pub mae_roi: f64,
    /// `BER_`: BER over ROI pixels.
    #[serde(rename = "BER_")]
    pub ber_roi: f64,
    /// `acc_`: accuracy over ROI pixels.
    #[serde(rename = "acc_")]
    pub acc_roi: f64,
    /// `prec_`: precision over ROI pixels.
    #[serde(rename = "prec_")]
    pub prec_roi: f64,
    /// `rec_`: recall over ROI pixels.
    #[serde(rename = "rec_")]
    pub rec_roi: f64,
    /// `F1_`: F1 over ROI pixels.
    #[serde(rename = "F1_")]
    pub f1_roi: f64,
    /// `BIoU_2`: Boundary IoU, d = max(1, round(0.02 · diagonal)).
    #[serde(rename = "BIoU_2")]
    pub biou_2: f64,
    /// `BIoU_1`: Boundary IoU, d = max(1, round(0.01 · diagonal)).
    #[serde(rename = "BIoU_1")]
    pub biou_1: f64,
    /// `pearson` = Σ(u−ū)(e−ē) / (sqrt(Σ(u−ū)²) sqrt(Σ(e−ē)²) + 1e-6), e = |G − p|.
    pub pearson: f64,
    /// `ECE`: binary ECE of p vs G, 10 equal-width bins, L1 (torchmetrics semantics).
    #[serde(rename = "ECE")]
    pub ece: f64,
    /// `sharp` = mean u.
    pub sharp: f64,
    /// `brier` = mean (p − G)².
    pub brier: f64,
    /// `avg_sample_std` = mean std.
    pub avg_sample_std: f64,
    /// `pearson_`: `pearson` over ROI pixels.
    #[serde(rename = "pearson_")]
    pub pearson_roi: f64,
    /// `ECE_`: ECE over ROI pixels.
    #[serde(rename = "ECE_")]
    pub ece_roi: f64,
    /// `sharp_`: mean u over ROI pixels.
    #[serde(rename = "sharp_")]
    pub sharp_roi: f64,
    /// `brier_`: Brier over ROI pixels.
    #[serde(rename = "brier_")]
    pub brier_roi: f64,
    /// `avg_sample_std_`: mean std over ROI pixels.
    #[serde(rename = "avg_sample_std_")]
    pub avg_sample_std_roi: f64,
    /// `spearman`: Spearman's ρ(u, |G − p|) over all pixels (average ranks for ties).
    pub spearman: f64,
    /// `nll` = −mean[G ln p + (1−G) ln(1−p)], logs clamped at −100, over all pixels.
    pub nll: f64,
    /// `auroc`: AUROC of u for detecting error pixels (P ≠ G), over all pixels.
    pub auroc: f64,
    /// `aupr`: average precision of u for detecting error pixels (P ≠ G), over all pixels.
    pub aupr: f64,
}

impl MaskMetrics {
    /// Column names, in the order of [`MaskMetrics::values`] and of the serialised struct.
    pub const COLUMNS: [&'static str; 32] = [
        "IoU",
        "dice",
        "MAE",
        "BER",
        "acc",
        "prec",
        "rec",
        "F1",
        "IoU_",
        "dice_",
        "MAE_",
        "BER_",
        "acc_",
        "prec_",
        "rec_",
        "F1_",
        "BIoU_2",
        "BIoU_1",
        "pearson",
        "ECE",
        "sharp",
        "brier",
        "avg_sample_std",
        "pearson_",
        "ECE_",
        "sharp_",
        "brier_",
        "avg_sample_std_",
        "spearman",
        "nll",
        "auroc",
        "aupr",
    ];

    /// All values, in the order of [`MaskMetrics::COLUMNS`].
    /// Rebuilds metrics from [`MaskMetrics::values`] (the inverse of `values`).
    pub fn from_values(v: [f64; 32]) -> Self {
        Self {
            iou: v[0],
            dice: v[1],
            mae: v[2],
            ber: v[3],
            acc: v[4],
            prec: v[5],
            rec: v[6],
            f1: v[7],
            iou_roi: v[8],
            dice_roi: v[9],
            mae_roi: v[10],
            ber_roi: v[11],
            acc_roi: v[12],
            prec_roi: v[13],
            rec_roi: v[14],
            f1_roi: v[15],
            biou_2: v[16],
            biou_1: v[17],
            pearson: v[18],
            ece: v[19],
            sharp: v[20],
            brier: v[21],
            avg_sample_std: v[22],
            pearson_roi: v[23],
            ece_roi: v[24],
            sharp_roi: v[25],
            brier_roi: v[26],
            avg_sample_std_roi: v[27],
            spearman: v[28],
            nll: v[29],
            auroc: v[30],
            aupr: v[31],
        }
    }

    /// All columns in [`MaskMetrics::COLUMNS`] order.
    pub fn values(&self) -> [f64; 32] {
        [
            self.iou,
            self.dice,
            self.mae,
            self.ber,
            self.acc,
            self.prec,
            self.rec,
            self.f1,
            self.iou_roi,
            self.dice_roi,
            self.mae_roi,
            self.ber_roi,
            self.acc_roi,
            self.prec_roi,
            self.rec_roi,
            self.f1_roi,
            self.biou_2,
            self.biou_1,
            self.pearson,
            self.ece,
            self.sharp,
            self.brier,
            self.avg_sample_std,
            self.pearson_roi,
            self.ece_roi,
            self.sharp_roi,
            self.brier_roi,
            self.avg_sample_std_roi,
            self.spearman,
            self.nll,
            self.auroc,
            self.aupr,
        ]
    }
}

/// Every metric of one mask, on every pixel (no subsampling).
///
/// Cost: O(pixels) plus two radix sorts of the pixels (u and |G − p|) for AUROC, AP and
/// Spearman; the box morphology is separable and independent of the radius. A mask of at
/// least 2^16 pixels runs the sorts on the calling thread and everything else on one scoped
/// helper thread; the results do not depend on it (every sum is computed in the same order
/// either way). The calling thread keeps its sort buffers (20 bytes per pixel of the largest
/// mask it has seen) for the next call.
///
/// # Errors
/// Shape or value errors of [`MaskInputs::validate`] (length mismatch, NaN, p ∉ [0, 1], no
/// pixels).
pub fn mask_metrics(inputs: &MaskInputs<'_>) -> Result<MaskMetrics> {
    Ok(compute(inputs)?.0)
}

/// [`mask_metrics`] plus the mask's full-image calibration accumulator, for callers that pool
/// calibration themselves (e.g. a resumable benchmark that stores per-image partial results).
pub fn mask_metrics_with_calibration(
    inputs: &MaskInputs<'_>,
) -> Result<(MaskMetrics, CalibrationAccumulator)> {
    compute(inputs)
}

/// The first-pass sums of one pixel set (the whole mask or its ROI).
struct FirstPass {
    cal: CalibrationAccumulator,
    pearson: PearsonSums,
    /// Σ std in pixel order (0 without a std map).
    std: f64,
}

/// The first-pass sums over the pixels where `roi` is nonzero (every pixel when `MASKED` is
/// false): ECE bins and Brier, Σu and Σe for Pearson, and Σ std when `std` is not empty.
///
/// The sums are those of [`CalibrationAccumulator::push_binned`] and [`PearsonSums::first`],
/// added in the same order, but kept in locals: one loop per pixel set, and the current ECE
/// bin's sums held until the bin changes, so that smooth maps (neighbours share a bin) do not
/// wait on memory.
fn first_pass<const MASKED: bool>(
    prob: &[f32],
    gt: &[u8],
    unc: &[f32],
    std: &[f32],
    roi: &[u8],
) -> FirstPass {
    let edges = ece_edges();
    let mut count = [0u64; ECE_BINS + 1];
    let mut sum_conf = [0f64; ECE_BINS + 1];
    let mut sum_acc = [0u64; ECE_BINS + 1];
    // The current bin and its running sums.
    let (mut bin, mut c, mut sc, mut sa) = (0usize, 0u64, 0f64, 0u64);
    let (mut sum_sq, mut su, mut se, mut std_sum, mut pixels) = (0f64, 0f64, 0f64, 0f64, 0u64);
    let n = prob.len();
    let (gt, unc) = (&gt[..n], &unc[..n]);
    let roi = if MASKED { &roi[..n] } else { &[][..] };
    let with_std = !std.is_empty();
    let std = if with_std { &std[..n] } else { &[][..] };
    for i in 0..n {
        if MASKED && roi[i] == 0 {
            continue;
        }
        let (p, g) = (prob[i], gt[i] != 0);
        let k = ece_bin(p, &edges);
        if k != bin {
            (count[bin], sum_conf[bin], sum_acc[bin]) = (c, sc, sa);
            bin = k;
            (c, sc, sa) = (count[k], sum_conf[k], sum_acc[k]);
        }
        let pf = f64::from(p);
        c += 1;
        sc += pf;
        sa += u64::from(g);
        let y = if g { 1.0 } else { 0.0 };
        sum_sq += (pf - y) * (pf - y);
        pixels += 1;
        su += f64::from(unc[i]);
        se += f64::from(soft_error_pixel(p, g));
        if with_std {
            std_sum += f64::from(std[i]);
        }
    }
    (count[bin], sum_conf[bin], sum_acc[bin]) = (c, sc, sa);
    FirstPass {
        cal: CalibrationAccumulator::from_binned(count, sum_conf, sum_acc, sum_sq, pixels),
        pearson: PearsonSums::from_first(pixels, su, se),
        std: std_sum,
    }
}

/// [`second_pass`] over every pixel, fused with [`nll_sum`] (four pixels at a time, the same
/// additions in the same order); returns the NLL sum.
fn second_pass_with_nll(prob: &[f32], gt: &[u8], unc: &[f32], pearson: &mut PearsonSums) -> f64 {
    let (mu, me) = pearson.means();
    let (mut sue, mut suu, mut see, mut nll) = (0f64, 0f64, 0f64, 0f64);
    let n = prob.len();
    let (gt, unc) = (&gt[..n], &unc[..n]);
    let mut pixel = |p: f32, g: u8, u: f32| {
        let e = soft_error_pixel(p, g != 0);
        let (a, b) = (f64::from(u) - mu, f64::from(e) - me);
        sue += a * b;
        suu += a * a;
        see += b * b;
    };
    let split = n - n % 4;
    for ((p, g), u) in prob[..split]
        .chunks_exact(4)
        .zip(gt[..split].chunks_exact(4))
        .zip(unc[..split].chunks_exact(4))
    {
        for k in 0..4 {
            pixel(p[k], g[k], u[k]);
        }
        nll += nll_log4(p, g);
    }
    for ((&p, &g), &u) in prob[split..].iter().zip(&gt[split..]).zip(&unc[split..]) {
        pixel(p, g, u);
        nll += nll_log1(p, g);
    }
    pearson.add_second(sue, suu, see);
    -nll
}

/// The second-pass sums Σ(u−ū)(e−ē), Σ(u−ū)², Σ(e−ē)² over the pixels where `roi` is
/// nonzero (every pixel when `MASKED` is false), as [`PearsonSums::second`] adds them.
fn second_pass<const MASKED: bool>(
    prob: &[f32],
    gt: &[u8],
    unc: &[f32],
    roi: &[u8],
    pearson: &mut PearsonSums,
) {
    let (mu, me) = pearson.means();
    let (mut sue, mut suu, mut see) = (0f64, 0f64, 0f64);
    let n = prob.len();
    let (gt, unc) = (&gt[..n], &unc[..n]);
    let roi = if MASKED { &roi[..n] } else { &[][..] };
    for i in 0..n {
        if MASKED && roi[i] == 0 {
            continue;
        }
        let e = soft_error_pixel(prob[i], gt[i] != 0);
        let (a, b) = (f64::from(unc[i]) - mu, f64::from(e) - me);
        sue += a * b;
        suu += a * a;
        see += b * b;
    }
    pearson.add_second(sue, suu, see);
}

/// The confusion matrices of the whole mask and of its ROI.
fn confusions(pred: &[u8], gt: &[u8], roi: &[u8]) -> (Confusion, Confusion) {
    // [tp, p, g] over all pixels, then [tp, p, g, n] over the ROI.
    let mut c = [0u64; 7];
    for ((&p, &g), &r) in pred.iter().zip(gt).zip(roi) {
        let (p, g, r) = (u64::from(p != 0), u64::from(g != 0), u64::from(r != 0));
        c[0] += p & g;
        c[1] += p;
        c[2] += g;
        c[3] += p & g & r;
        c[4] += p & r;
        c[5] += g & r;
        c[6] += r;
    }
    let confusion = |tp: u64, p: u64, g: u64, n: u64| Confusion {
        tp,
        fp: p - tp,
        fn_: g - tp,
        tn: n - p - g + tp,
    };
    (
        confusion(c[0], c[1], c[2], pred.len() as u64),
        confusion(c[3], c[4], c[5], c[6]),
    )
}

/// Masks with at least this many pixels compute the ranking metrics on a second thread.
const PARALLEL_PIXELS: usize = 1 << 16;

/// Every per-mask sum but the rankings.
struct PixelSums {
    conf: Confusion,
    conf_roi: Confusion,
    cal: CalibrationAccumulator,
    cal_roi: CalibrationAccumulator,
    pear: PearsonSums,
    pear_roi: PearsonSums,
    mean_std: f64,
    mean_std_roi: f64,
    biou_2: f64,
    biou_1: f64,
}

/// The ROI, the confusion, calibration, Pearson and std sums of the whole mask and of the ROI,
/// and the Boundary IoUs, of validated inputs.
fn pixel_sums(inputs: &MaskInputs<'_>) -> PixelSums {
    let MaskInputs {
        pred,
        gt,
        prob,
        unc,
        std,
        height,
        width,
        ..
    } = *inputs;
    let n = pred.len();
    let roi = dilated_roi_unchecked(gt, height, width);
    let stds = std.unwrap_or(&[]);
    let all = first_pass::<false>(prob, gt, unc, stds, &roi);
    let inside = first_pass::<true>(prob, gt, unc, stds, &roi);
    let (conf, conf_roi) = confusions(pred, gt, &roi);
    let (mut pear, mut pear_roi) = (all.pearson, inside.pearson);
    let (mut cal, cal_roi) = (all.cal, inside.cal);
    // The ROI NLL is not a column, so only the full image pays for the logs.
    cal.add_nll_sum(second_pass_with_nll(prob, gt, unc, &mut pear));
    second_pass::<true>(prob, gt, unc, &roi, &mut pear_roi);
    let (mean_std, mean_std_roi) = match std {
        None => (f64::NAN, f64::NAN),
        Some(_) => (all.std / n as f64, inside.std / conf_roi.total() as f64),
    };
    let d2 = boundary_radius(height, width, 0.02);
    let d1 = boundary_radius(height, width, 0.01);
    PixelSums {
        conf,
        conf_roi,
        cal,
        cal_roi,
        pear,
        pear_roi,
        mean_std,
        mean_std_roi,
        biou_2: boundary_iou_unchecked(gt, pred, height, width, d2),
        biou_1: boundary_iou_unchecked(gt, pred, height, width, d1),
    }
}

/// [`mask_metrics`] plus the full-image calibration accumulator (for pooled dataset ECE).
pub(crate) fn compute(inputs: &MaskInputs<'_>) -> Result<(MaskMetrics, CalibrationAccumulator)> {
    inputs.validate()?;
    let MaskInputs {
        pred,
        gt,
        prob,
        unc,
        ..
    } = *inputs;
    let n = pred.len();
    // The ranking (two sorts of the pixels) and everything else are independent and each
    // deterministic: a large mask computes them on two threads, with the same results.
    let ranking = || pixel_ranking(unc, pred, gt, prob);
    let ((auroc, aupr, spearman), sums) = if n >= PARALLEL_PIXELS {
        std::thread::scope(|scope| {
            let others = std::thread::Builder::new().spawn_scoped(scope, || pixel_sums(inputs));
            let ranks = ranking();
            let sums = match others {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => pixel_sums(inputs),
            };
            (ranks, sums)
        })
    } else {
        (ranking(), pixel_sums(inputs))
    };
    let PixelSums {
        conf,
        conf_roi,
        cal,
        cal_roi,
        pear,
        pear_roi,
        mean_std,
        mean_std_roi,
        biou_2,
        biou_1,
    } = sums;
    let (mu, mu_r) = (pear.means().0, pear_roi.means().0);
    let seg = conf.metrics();
    let seg_roi = conf_roi.metrics();
    let metrics = MaskMetrics {
        iou: seg.iou,
        dice: seg.dice,
        mae: seg.mae,
        ber: seg.ber,
        acc: seg.acc,
        prec: seg.prec,
        rec: seg.rec,
        f1: seg.f1,
        iou_roi: seg_roi.iou,
        dice_roi: seg_roi.dice,
        mae_roi: seg_roi.mae,
        ber_roi: seg_roi.ber,
        acc_roi: seg_roi.acc,
        prec_roi: seg_roi.prec,
        rec_roi: seg_roi.rec,
        f1_roi: seg_roi.f1,
        biou_2,
        biou_1,
        pearson: pear.paper_r(),
        ece: cal.ece(),
        sharp: mu,
        brier: cal.brier(),
        avg_sample_std: mean_std,
        pearson_roi: pear_roi.paper_r(),
        ece_roi: cal_roi.ece(),
        sharp_roi: mu_r,
        brier_roi: cal_roi.brier(),
        avg_sample_std_roi: mean_std_roi,
        spearman,
        nll: cal.nll(),
        auroc,
        aupr,
    };
    Ok((metrics, cal))
}
