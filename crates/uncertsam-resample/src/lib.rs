//! Resampling kernels that must match PyTorch to the last bit and are needed on both sides of
//! an architecture boundary: `uncertsam-sam` resizes images with them (SAM 2's
//! `SAM2Transforms`) and `uncertsam-data` resizes masks (SAM 2's square mask transform). Neither
//! crate may depend on the other, so the one copy lives here. **Invariant:** no dependencies.

/// Taps of PyTorch's antialiased bilinear resize (`_upsample_bilinear2d_aa`, align_corners
/// False; `_compute_indices_min_size_weights_aa` with the triangle filter) along one axis, in
/// its `f32` arithmetic: per output index the first input index and the normalised weights
/// (support widened by the scale when downsampling). Rows whose weights sum to 0 stay all 0.
pub fn antialias_taps(input: usize, output: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = input as f32 / output as f32;
    let (support, invscale) = if scale >= 1.0 {
        (scale, 1.0 / scale)
    } else {
        (1.0, 1.0)
    };
    (0..output)
        .map(|i| {
            let center = scale * (i as f32 + 0.5);
            let min = ((center - support + 0.5) as i64).max(0) as usize;
            let max = ((center + support + 0.5) as i64).clamp(0, input as i64) as usize;
            let mut weights: Vec<f32> = (min..max.max(min))
                .map(|j| (1.0 - ((j as f32 - center + 0.5) * invscale).abs()).max(0.0))
                .collect();
            let total: f32 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|v| *v /= total);
            }
            (min, weights)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_and_stay_in_range() {
        for (i, o) in [(300, 256), (133, 320), (7, 3), (3, 7), (1, 5)] {
            for (x0, w) in antialias_taps(i, o) {
                assert!(x0 + w.len() <= i);
                assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn the_same_size_is_the_identity() {
        for (i, (x0, w)) in antialias_taps(9, 9).into_iter().enumerate() {
            let hit: Vec<(usize, f32)> = w
                .iter()
                .enumerate()
                .filter(|(_, v)| **v != 0.0)
                .map(|(j, v)| (x0 + j, *v))
                .collect();
            assert_eq!(hit, vec![(i, 1.0)]);
        }
    }
}
