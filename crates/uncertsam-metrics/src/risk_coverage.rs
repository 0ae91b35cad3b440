//! Selective prediction: the risk–coverage curve, AURC and E-AURC (Geifman et al. 2019,
//! "Bias-reduced uncertainty estimation for deep neural classifiers"; the E-AURC of Jaeger et
//! al. 2023, "A call to reflect on evaluation practices for failure detection").

use serde::Serialize;

use crate::error::{MetricsError, Result, check_finite, check_same_len};

/// A risk–coverage curve and its areas.
///
/// Items are accepted most confident first. With n items, coverage k/n keeps the k most
/// confident ones and its selective risk is r_k = C_k / k, C_k being the sum of their risks.
/// Tied confidences are handled deterministically, independently of input order: inside a tie
/// group C_k is interpolated linearly, which is the expectation of C_k over every order of the
/// tied items.
///
/// - AURC = (1/n) Σ_{k=1..n} r_k (Geifman et al.'s discrete area, no trapezoid).
/// - The optimal AURC* is the AURC of the same risks ranked by risk itself (lowest first).
/// - E-AURC = AURC − AURC* ≥ 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskCoverage {
    /// Coverages k/n at the end of each tie group, increasing, ending at 1.
    pub coverage: Vec<f64>,
    /// Selective risk at each coverage.
    pub risk: Vec<f64>,
    /// Area under the risk–coverage curve.
    pub aurc: f64,
    /// AURC of the optimal (oracle) ranking.
    pub aurc_optimal: f64,
    /// Excess AURC, `aurc − aurc_optimal`.
    pub eaurc: f64,
}

/// Risk–coverage curve, AURC and E-AURC for per-item `confidence` (higher = keep first) and
/// `risk` (e.g. 1 − IoU).
///
/// # Errors
/// Length mismatch, no items, or a non-finite value.
pub fn risk_coverage(confidence: &[f64], risk: &[f64]) -> Result<RiskCoverage> {
    check_same_len("confidence", confidence.len(), "risk", risk.len())?;
    if confidence.is_empty() {
        return Err(MetricsError::Empty { name: "confidence" });
    }
    check_finite("confidence", confidence)?;
    check_finite("risk", risk)?;
    let (coverage, curve, aurc) = curve_and_area(confidence, risk);
    let negated: Vec<f64> = risk.iter().map(|&r| -r).collect();
    let (_, _, aurc_optimal) = curve_and_area(&negated, risk);
    Ok(RiskCoverage {
        coverage,
        risk: curve,
        aurc,
        aurc_optimal,
        eaurc: aurc - aurc_optimal,
    })
}

fn curve_and_area(confidence: &[f64], risk: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
    let n = confidence.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| confidence[b].total_cmp(&confidence[a]));
    let (mut coverage, mut curve) = (Vec::new(), Vec::new());
    let (mut cum, mut area) = (0.0f64, 0.0f64);
    let mut s = 0;
    while s < n {
        let mut e = s + 1;
        while e < n && confidence[order[e]] == confidence[order[s]] {
            e += 1;
        }
        let group: f64 = order[s..e].iter().map(|&i| risk[i]).sum();
        let m = (e - s) as f64;
        for j in 1..=(e - s) {
            area += (cum + group * j as f64 / m) / (s + j) as f64;
        }
        cum += group;
        coverage.push(e as f64 / n as f64);
        curve.push(cum / e as f64);
        s = e;
    }
    (coverage, curve, area / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_has_zero_excess_aurc() {
        let rc = risk_coverage(&[0.9, 0.1, 0.5], &[0.0, 1.0, 0.3]).expect("valid");
        assert!(rc.eaurc.abs() < 1e-15);
        // r_1 = 0, r_2 = 0.15, r_3 = 1.3 / 3.
        assert!((rc.aurc - (0.0 + 0.15 + 1.3 / 3.0) / 3.0).abs() < 1e-15);
    }

    #[test]
    fn fully_tied_confidences_give_the_mean_risk_at_every_coverage() {
        let rc = risk_coverage(&[1.0; 4], &[0.0, 1.0, 0.0, 1.0]).expect("valid");
        assert_eq!(rc.coverage, [1.0]);
        assert!((rc.aurc - 0.5).abs() < 1e-15);
    }
}
