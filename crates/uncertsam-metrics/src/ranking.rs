//! Rank-based metrics, exact with ties: AUROC and average precision (as scikit-learn's
//! `roc_auc_score` / `average_precision_score`) and Spearman's ρ (as scipy's `spearmanr`),
//! plus plain Pearson's r (as scipy's `pearsonr`).
//!
//! Pixel-level scores are f32 and sorted by an LSD radix sort on order-preserving keys,
//! O(n); ranks are kept doubled (2·average rank is an integer), so rank sums are exact.

use crate::error::{MetricsError, Result, check_finite, check_same_len};
use crate::radix::{LABEL_BIT, entry, entry_key, radix_sort};
use crate::uncertainty::soft_error_pixel;

/// Walks entries sorted by a score with [`LABEL_BIT`] set on the positives, from the highest
/// tie group down, and returns the AUROC and average precision of the score for the label
/// (`n1` positives in all). `group(entries, r2)` sees every tie group with twice its average
/// 1-based rank.
fn auroc_ap_walk(sorted: &[u64], n1: u64, mut group: impl FnMut(&[u64], u32)) -> (f64, f64) {
    let n = sorted.len();
    let (mut tp, mut fp, mut ap, mut rank_sum2) = (0u64, 0u64, 0.0f64, 0u128);
    let mut end = n;
    while end > 0 {
        let k = entry_key(sorted[end - 1]);
        let mut start = end - 1;
        while start > 0 && entry_key(sorted[start - 1]) == k {
            start -= 1;
        }
        let ties = &sorted[start..end];
        let pos = ties.iter().map(|&x| (x >> 31) & 1).sum::<u64>();
        let r2 = start + 1 + end;
        group(ties, r2 as u32);
        // pos ≤ n < 2^31 and r2 ≤ 2n, so the product fits in a u64.
        rank_sum2 += u128::from(pos * r2 as u64);
        tp += pos;
        fp += ties.len() as u64 - pos;
        if pos > 0 {
            ap += (pos as f64 / n1 as f64) * (tp as f64 / (tp + fp) as f64);
        }
        end = start;
    }
    let n0 = n as u64 - n1;
    let auroc = if n1 == 0 || n0 == 0 {
        f64::NAN
    } else {
        // 2U = Σ 2·rank(positives) − n1 (n1 + 1) (Mann–Whitney, ties counted ½).
        let u2 = rank_sum2 - u128::from(n1) * u128::from(n1 + 1);
        u2 as f64 / (2.0 * n1 as f64 * n0 as f64)
    };
    let ap = if n1 == 0 { f64::NAN } else { ap };
    (auroc, ap)
}

/// AUROC and AP of f32 scores for boolean labels (inputs already checked).
fn auroc_ap_f32(scores: &[f32], labels: &[bool]) -> (f64, f64) {
    let n1 = labels.iter().filter(|&&l| l).count() as u64;
    let entries = scores
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (&x, &l))| entry(x, i as u32) | if l { LABEL_BIT } else { 0 });
    let (mut v, mut buf) = (Vec::new(), Vec::new());
    radix_sort(entries, &mut v, &mut buf);
    auroc_ap_walk(&v, n1, |_, _| {})
}

/// Twice the average 1-based rank of every value in input order, and Σ of their squares,
/// from entries sorted by value whose payload (below [`LABEL_BIT`]) is the input index.
fn scatter_ranks(ties: &[u64], r2: u32, ranks: &mut [u32], sum_sq: &mut u128) {
    for &x in ties {
        ranks[(x & (LABEL_BIT - 1)) as usize] = r2;
    }
    *sum_sq += u128::from(r2) * u128::from(r2) * ties.len() as u128;
}

/// Σ A_x A_y and Σ A_y² from entries sorted by y whose payload is A_x, the doubled rank of x
/// (A = 2 · average rank).
fn cross_sums(sorted_y: &[u64]) -> (u128, u128) {
    let (mut sxy, mut syy) = (0u128, 0u128);
    let mut start = 0;
    while start < sorted_y.len() {
        let k = entry_key(sorted_y[start]);
        let mut end = start + 1;
        let mut group = sorted_y[start] & 0xffff_ffff;
        while end < sorted_y.len() && entry_key(sorted_y[end]) == k {
            group += sorted_y[end] & 0xffff_ffff;
            end += 1;
        }
        let r2 = (start + 1 + end) as u64;
        sxy += u128::from(r2) * u128::from(group);
        syy += u128::from(r2) * u128::from(r2) * (end - start) as u128;
        start = end;
    }
    (sxy, syy)
}

/// Spearman's ρ from exact integer sums of doubled ranks A (2·average rank) of n pairs.
///
/// With A = 2·rank, 4·n·cov = Σ A_x A_y − n (n + 1)², and a tie group of m values with
/// doubled rank A adds m·A² to Σ A².
fn rank_correlation(n: usize, sxy: u128, sxx: u128, syy: u128) -> f64 {
    let n = n as i128;
    let c = n * (n + 1) * (n + 1);
    let (cov, vx, vy) = (sxy as i128 - c, sxx as i128 - c, syy as i128 - c);
    if vx == 0 || vy == 0 {
        return f64::NAN;
    }
    cov as f64 / ((vx as f64).sqrt() * (vy as f64).sqrt())
}

/// A sorted (key, payload) entry: `(key << 32) | payload` for f32 keys (`u64`), `(key << 64)
/// | index` for f64 keys (`u128`).
trait Entry: Copy {
    /// The order-preserving key.
    fn key(self) -> u64;
    /// The value's position in the input.
    fn index(self) -> usize;
}

impl Entry for u64 {
    #[inline]
    fn key(self) -> u64 {
        self >> 32
    }
    #[inline]
    fn index(self) -> usize {
        (self & 0xffff_ffff) as usize
    }
}

impl Entry for u128 {
    #[inline]
    fn key(self) -> u64 {
        (self >> 64) as u64
    }
    #[inline]
    fn index(self) -> usize {
        (self & 0xffff_ffff) as usize
    }
}

/// Order-preserving `u64` key of a finite f64; −0.0 and +0.0 get the same key.
#[inline]
fn key_f64(x: f64) -> u64 {
    let b = (x + 0.0).to_bits();
    if b & (1 << 63) != 0 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// `(key << 64) | index` for every f64 value, sorted ascending by key (stable): an LSD radix
/// sort on eight 8-bit digits, skipping digits that all keys share.
fn sorted_entries_f64(values: &[f64]) -> Vec<u128> {
    let n = values.len();
    let mut hist = [[0u32; 256]; 8];
    for &x in values {
        let k = key_f64(x);
        for (d, h) in hist.iter_mut().enumerate() {
            h[((k >> (8 * d)) & 255) as usize] += 1;
        }
    }
    let mut v: Vec<u128> = values
        .iter()
        .enumerate()
        .map(|(i, &x)| (u128::from(key_f64(x)) << 64) | i as u128)
        .collect();
    let mut buf = vec![0u128; n];
    for (d, h) in hist.iter().enumerate() {
        if h.iter().any(|&c| c as usize == n) {
            continue;
        }
        let mut offset = [0usize; 256];
        let mut total = 0;
        for (o, &c) in offset.iter_mut().zip(h) {
            *o = total;
            total += c as usize;
        }
        let shift = 64 + 8 * d;
        for &x in &v {
            let b = ((x >> shift) & 255) as usize;
            buf[offset[b]] = x;
            offset[b] += 1;
        }
        std::mem::swap(&mut v, &mut buf);
    }
    v
}

/// Calls `f(start, end)` for every run of equal keys in sorted entries (`end` exclusive).
fn for_each_tie<E: Entry>(sorted: &[E], mut f: impl FnMut(usize, usize)) {
    let mut start = 0;
    while start < sorted.len() {
        let k = sorted[start].key();
        let mut end = start + 1;
        while end < sorted.len() && sorted[end].key() == k {
            end += 1;
        }
        f(start, end);
        start = end;
    }
}

/// Error-detection AUROC and average precision of one sorted score vector.
fn auroc_ap_sorted<E: Entry>(sorted: &[E], labels: &[bool]) -> (f64, f64) {
    // Per tie group, in ascending score order: (positives, negatives).
    let mut groups: Vec<(u64, u64)> = Vec::new();
    let mut rank_sum2 = 0u128;
    for_each_tie(sorted, |s, e| {
        let pos = sorted[s..e].iter().filter(|&&x| labels[x.index()]).count() as u64;
        rank_sum2 += u128::from(pos) * (s + 1 + e) as u128;
        groups.push((pos, (e - s) as u64 - pos));
    });
    let n1: u64 = groups.iter().map(|g| g.0).sum();
    let n0 = sorted.len() as u64 - n1;
    let auroc = if n1 == 0 || n0 == 0 {
        f64::NAN
    } else {
        // 2U = Σ 2·rank(positives) − n1 (n1 + 1) (Mann–Whitney, ties counted ½).
        let u2 = rank_sum2 - u128::from(n1) * u128::from(n1 + 1);
        u2 as f64 / (2.0 * n1 as f64 * n0 as f64)
    };
    let ap = if n1 == 0 {
        f64::NAN
    } else {
        let (mut tp, mut fp, mut ap) = (0u64, 0u64, 0.0f64);
        for &(pos, neg) in groups.iter().rev() {
            tp += pos;
            fp += neg;
            if pos > 0 {
                ap += (pos as f64 / n1 as f64) * (tp as f64 / (tp + fp) as f64);
            }
        }
        ap
    };
    (auroc, ap)
}

/// Validates paired f32 scores and labels.
fn check_scores(scores: &[f32], labels_len: usize) -> Result<()> {
    check_same_len("scores", scores.len(), "labels", labels_len)?;
    if scores.is_empty() {
        return Err(MetricsError::Empty { name: "scores" });
    }
    if i32::try_from(scores.len()).is_err() {
        return Err(MetricsError::UnsupportedSize {
            height: 1,
            width: scores.len(),
        });
    }
    check_finite("scores", scores)
}

/// AUROC of `scores` for detecting `labels == true`:
/// P(s₊ > s₋) + ½ P(s₊ = s₋), the Mann–Whitney U / (n₊ n₋), which is exactly scikit-learn's
/// `roc_auc_score` (trapezoidal ROC over distinct thresholds). NaN when either class is empty.
///
/// # Errors
/// Length mismatch, empty input, or a non-finite score.
pub fn auroc(scores: &[f32], labels: &[bool]) -> Result<f64> {
    check_scores(scores, labels.len())?;
    Ok(auroc_ap_f32(scores, labels).0)
}

/// Average precision of `scores` for detecting `labels == true`, as scikit-learn's
/// `average_precision_score`: AP = Σ_k (R_k − R_{k−1}) P_k over distinct thresholds in
/// decreasing order (ties form one threshold, no interpolation). NaN when there is no positive
/// (scikit-learn returns 0 with a warning); 1 when every label is positive.
///
/// # Errors
/// Length mismatch, empty input, or a non-finite score.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Result<f64> {
    check_scores(scores, labels.len())?;
    Ok(auroc_ap_f32(scores, labels).1)
}

/// Validates paired f64 scores and labels.
fn check_scores_f64(scores: &[f64], labels_len: usize) -> Result<()> {
    check_same_len("scores", scores.len(), "labels", labels_len)?;
    if scores.is_empty() {
        return Err(MetricsError::Empty { name: "scores" });
    }
    if u32::try_from(scores.len()).is_err() {
        return Err(MetricsError::UnsupportedSize {
            height: 1,
            width: scores.len(),
        });
    }
    check_finite("scores", scores)
}

/// [`auroc`] of f64 scores, ranked as f64 (no rounding to f32, so distinct f64 scores never
/// merge into one tie). The same value as [`auroc`] for scores that are exactly f32.
///
/// # Errors
/// Length mismatch, empty input, 2^32 or more values, or a non-finite score.
pub fn auroc_f64(scores: &[f64], labels: &[bool]) -> Result<f64> {
    check_scores_f64(scores, labels.len())?;
    Ok(auroc_ap_sorted(&sorted_entries_f64(scores), labels).0)
}

/// [`average_precision`] of f64 scores, ranked and accumulated as f64.
///
/// # Errors
/// Length mismatch, empty input, 2^32 or more values, or a non-finite score.
pub fn average_precision_f64(scores: &[f64], labels: &[bool]) -> Result<f64> {
    check_scores_f64(scores, labels.len())?;
    Ok(auroc_ap_sorted(&sorted_entries_f64(scores), labels).1)
}

/// Spearman's ρ of paired f32 values: Pearson's r of their average ranks (ties share the mean
/// rank, scipy's `spearmanr`). NaN when either input is constant.
///
/// # Errors
/// Length mismatch, empty input, or a non-finite value.
pub fn spearman(x: &[f32], y: &[f32]) -> Result<f64> {
    check_same_len("x", x.len(), "y", y.len())?;
    check_scores(x, x.len())?;
    check_finite("y", y)?;
    let n = x.len();
    let (mut v, mut buf) = (Vec::new(), Vec::new());
    radix_sort(
        x.iter().enumerate().map(|(i, &a)| entry(a, i as u32)),
        &mut v,
        &mut buf,
    );
    let (mut ranks, mut sxx) = (vec![0u32; n], 0u128);
    for_each_tie(&v, |s, e| {
        scatter_ranks(&v[s..e], (s + 1 + e) as u32, &mut ranks, &mut sxx);
    });
    radix_sort(
        y.iter().zip(&ranks).map(|(&b, &r)| entry(b, r)),
        &mut v,
        &mut buf,
    );
    let (sxy, syy) = cross_sums(&v);
    Ok(rank_correlation(n, sxy, sxx, syy))
}

/// Scratch space of [`pixel_ranking`]: the two sort buffers and the doubled ranks of u.
#[derive(Default)]
struct Scratch {
    v: Vec<u64>,
    buf: Vec<u64>,
    ranks: Vec<u32>,
}

thread_local! {
    /// [`pixel_ranking`]'s buffers, kept between calls on the same thread (20 bytes per pixel
    /// of the largest mask seen), so that every call does not pay the page faults of fresh
    /// allocations.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// The per-pixel ranking metrics of one mask: error-detection AUROC and AP of `unc` for the
/// error pixels (P ≠ G), and Spearman's ρ(unc, |G − p|). Inputs are validated by the caller.
pub(crate) fn pixel_ranking(unc: &[f32], pred: &[u8], gt: &[u8], prob: &[f32]) -> (f64, f64, f64) {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => pixel_ranking_in(unc, pred, gt, prob, &mut scratch),
        Err(_) => pixel_ranking_in(unc, pred, gt, prob, &mut Scratch::default()),
    })
}

/// [`pixel_ranking`] in the buffers of `scratch`.
fn pixel_ranking_in(
    unc: &[f32],
    pred: &[u8],
    gt: &[u8],
    prob: &[f32],
    scratch: &mut Scratch,
) -> (f64, f64, f64) {
    let n = unc.len();
    let Scratch { v, buf, ranks } = scratch;
    let n_err = pred
        .iter()
        .zip(gt)
        .map(|(&p, &g)| u64::from((p != 0) != (g != 0)))
        .sum();
    let entries = unc
        .iter()
        .zip(pred.iter().zip(gt))
        .enumerate()
        .map(|(i, (&u, (&p, &g)))| {
            entry(u, i as u32) | if (p != 0) != (g != 0) { LABEL_BIT } else { 0 }
        });
    radix_sort(entries, v, buf);
    // The doubled ranks of u, in input order, are the second sort's payload.
    if ranks.len() != n {
        *ranks = vec![0; n];
    }
    let mut sxx = 0u128;
    let (auroc, ap) = auroc_ap_walk(v, n_err, |ties, r2| {
        for &x in ties {
            ranks[(x & (LABEL_BIT - 1)) as usize] = r2;
        }
        sxx += u128::from(u64::from(r2) * u64::from(r2)) * ties.len() as u128;
    });
    let entries = prob
        .iter()
        .zip(gt)
        .zip(ranks.iter())
        .map(|((&p, &g), &r)| entry(soft_error_pixel(p, g != 0), r));
    radix_sort(entries, v, buf);
    let (sxy, syy) = cross_sums(v);
    (auroc, ap, rank_correlation(n, sxy, sxx, syy))
}

/// Average 1-based ranks of f64 values (ties share their mean rank).
fn average_ranks_f64(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut s = 0;
    while s < order.len() {
        let mut e = s + 1;
        while e < order.len() && values[order[e]] == values[order[s]] {
            e += 1;
        }
        let r = (s + 1 + e) as f64 / 2.0;
        for &i in &order[s..e] {
            ranks[i] = r;
        }
        s = e;
    }
    ranks
}

fn check_pair(x: &[f64], y: &[f64]) -> Result<()> {
    check_same_len("x", x.len(), "y", y.len())?;
    if x.is_empty() {
        return Err(MetricsError::Empty { name: "x" });
    }
    check_finite("x", x)?;
    check_finite("y", y)
}

/// Pearson's r = Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²), two-pass in f64, without the paper's
/// ε (scipy's `pearsonr`). NaN when either input is constant or has one value.
///
/// # Errors
/// Length mismatch, empty input, or a non-finite value.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y)?;
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a - mx, b - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx == 0.0 || syy == 0.0 {
        return Ok(f64::NAN);
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Spearman's ρ of paired f64 values (average ranks, scipy's `spearmanr`). NaN when either
/// input is constant.
///
/// # Errors
/// Length mismatch, empty input, or a non-finite value.
pub fn spearman_f64(x: &[f64], y: &[f64]) -> Result<f64> {
    check_pair(x, y)?;
    pearson(&average_ranks_f64(x), &average_ranks_f64(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_orders_negative_zero_and_positive_values() {
        let v = [3.0f32, -1.0, 0.0, -0.0, -7.5, 2.0, f32::MIN, f32::MAX];
        let (mut sorted, mut buf) = (Vec::new(), Vec::new());
        radix_sort(
            v.iter().enumerate().map(|(i, &x)| entry(x, i as u32)),
            &mut sorted,
            &mut buf,
        );
        let sorted: Vec<f32> = sorted
            .iter()
            .map(|&e| v[(e & 0xffff_ffff) as usize])
            .collect();
        assert_eq!(
            sorted,
            [f32::MIN, -7.5, -1.0, 0.0, -0.0, 2.0, 3.0, f32::MAX]
        );
    }

    #[test]
    fn auroc_counts_ties_as_half() {
        let v = auroc(&[0.5, 0.5, 0.2, 0.9], &[true, false, false, true]).expect("valid");
        // Pairs (pos, neg): (0.5, 0.5) ½, (0.5, 0.2) 1, (0.9, 0.5) 1, (0.9, 0.2) 1.
        assert_eq!(v, 3.5 / 4.0);
    }

    #[test]
    fn auroc_without_positives_is_nan_and_ap_of_all_positives_is_one() {
        assert!(auroc(&[0.1, 0.2], &[false, false]).expect("valid").is_nan());
        assert!(
            average_precision(&[0.1, 0.2], &[false, false])
                .expect("valid")
                .is_nan()
        );
        assert_eq!(
            average_precision(&[0.1, 0.2], &[true, true]).expect("valid"),
            1.0
        );
    }

    #[test]
    fn spearman_of_a_constant_is_nan_and_of_a_monotone_map_is_one() {
        assert!(
            spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0])
                .expect("valid")
                .is_nan()
        );
        let rho = spearman(&[1.0, 4.0, 9.0], &[-3.0, 0.0, 2.0]).expect("valid");
        assert!((rho - 1.0).abs() < 1e-15, "{rho}");
    }

    #[test]
    fn f32_and_f64_spearman_agree_on_tied_data() {
        let x = [1.0f32, 2.0, 2.0, 3.0, 1.0, 5.0];
        let y = [0.5f32, 0.5, 0.1, 0.9, 0.2, 0.2];
        let a = spearman(&x, &y).expect("valid");
        let wide = |v: &[f32]| v.iter().map(|&t| f64::from(t)).collect::<Vec<_>>();
        let b = spearman_f64(&wide(&x), &wide(&y)).expect("valid");
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }

    #[test]
    fn f64_ranking_keeps_scores_that_f32_would_merge() {
        // 0.1 and 0.1 + 1e-12 round to the same f32: as f32 they tie (AUROC ½), as f64 the
        // positive ranks first.
        let (lo, hi) = (0.1f64, 0.1f64 + 1e-12);
        assert_eq!(lo as f32, hi as f32);
        let labels = [false, true];
        assert_eq!(auroc(&[lo as f32, hi as f32], &labels).expect("valid"), 0.5);
        assert_eq!(auroc_f64(&[lo, hi], &labels).expect("valid"), 1.0);
        assert_eq!(
            average_precision_f64(&[lo, hi], &labels).expect("valid"),
            1.0
        );
    }

    #[test]
    fn f64_and_f32_ranking_agree_on_f32_values() {
        let x = [0.5f32, -0.0, 0.0, 3.0, 0.5, -2.0, 7.25, 0.5];
        let y = [true, false, true, true, false, false, true, true];
        let wide: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(auroc(&x, &y), auroc_f64(&wide, &y));
        assert_eq!(average_precision(&x, &y), average_precision_f64(&wide, &y));
    }

    #[test]
    fn f64_radix_sort_orders_signed_values() {
        let v = [
            3.0f64,
            -1.0,
            0.0,
            -0.0,
            -7.5,
            2.0,
            f64::MIN,
            f64::MAX,
            1e-300,
        ];
        let sorted: Vec<f64> = sorted_entries_f64(&v)
            .iter()
            .map(|&e| v[e.index()])
            .collect();
        assert_eq!(
            sorted,
            [f64::MIN, -7.5, -1.0, 0.0, -0.0, 1e-300, 2.0, 3.0, f64::MAX]
        );
    }

    #[test]
    fn length_mismatch_names_both_lengths() {
        let e = auroc(&[0.1, 0.2, 0.3], &[true]).unwrap_err();
        assert_eq!(e.to_string(), "scores has 3 values but labels has 1");
    }
}
