//! Square resize of a mask the way SAM 2's transforms do it: torchvision `F.resize` on the
//! uint8 0/1 mask (bilinear, antialias on, float arithmetic, then `round`), then `!= 0`.
//!
//! torch computes the antialiased bilinear resample separably in `f32`, width first, each output
//! pixel a normalised triangle-filter average whose support widens by the scale factor when
//! shrinking. We do the same in `f32`; `round` (half to even) of a value in [0, 1] is nonzero
//! exactly when the value is > 0.5. Checked against torchvision in `fixtures/data/resize_cases.json`.

use uncertsam_resample::antialias_taps;

use crate::mask::Mask;

/// Resizes a mask to `size` x `size` ignoring the aspect ratio (SAM 2's `square=True`).
pub fn resize_square(mask: &Mask, size: usize) -> Mask {
    resize(mask, size, size)
}

/// Resizes a mask to `height` x `width` with torchvision's antialiased bilinear filter.
pub fn resize(mask: &Mask, height: usize, width: usize) -> Mask {
    let (h, w) = (mask.height(), mask.width());
    if h == 0 || w == 0 || height == 0 || width == 0 {
        return Mask::zeros(height, width);
    }
    let src: Vec<f32> = mask.data().iter().map(|&v| f32::from(v)).collect();
    // Width first, as torch does; an axis whose size does not change is left alone.
    let horizontal = if width == w {
        src
    } else {
        let taps = antialias_taps(w, width);
        let mut out = vec![0f32; h * width];
        for y in 0..h {
            let row = &src[y * w..(y + 1) * w];
            for (ox, (start, weights)) in taps.iter().enumerate() {
                out[y * width + ox] = dot(&row[*start..*start + weights.len()], weights);
            }
        }
        out
    };
    let vertical = if height == h {
        horizontal
    } else {
        let taps = antialias_taps(h, height);
        let mut out = vec![0f32; height * width];
        for (oy, (start, weights)) in taps.iter().enumerate() {
            for ox in 0..width {
                let mut acc = 0f32;
                for (j, &wt) in weights.iter().enumerate() {
                    acc += wt * horizontal[(start + j) * width + ox];
                }
                out[oy * width + ox] = acc;
            }
        }
        out
    };
    Mask::from_fn(height, width, |x, y| vertical[y * width + x] > 0.5)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_to_the_same_size_is_the_identity() {
        let m = Mask::from_fn(5, 7, |x, y| (x * y) % 3 == 0);
        assert_eq!(resize(&m, 5, 7), m);
    }

    #[test]
    fn a_full_mask_stays_full_at_any_size() {
        let m = Mask::from_fn(13, 29, |_, _| true);
        for s in [1, 4, 13, 64, 100] {
            assert_eq!(resize_square(&m, s).area(), (s * s) as u64);
        }
    }
}
