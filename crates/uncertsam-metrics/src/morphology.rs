//! Binary box dilation and erosion, separable and O(pixels) whatever the radius.
//!
//! Masks are `0`/`1` bytes, row-major. A box of radius `r` is the (2r+1)² square centred on a
//! pixel; pixels outside the image count as background (zero padding). Rows are processed as
//! runs of foreground, columns with a sliding per-column count, so the cost does not depend on
//! `r` (d ≈ 29 at 1024²).

/// Box dilation: `out[i, j] = 1` iff some pixel of the (2r+1)² box around (i, j) is set.
///
/// This is the paper's ROI dilation, `conv2d(mask, ones(2r+1, 2r+1), padding=r) > 0`.
pub fn dilate_box(mask: &[u8], height: usize, width: usize, r: usize) -> Vec<u8> {
    let rows = horizontal(mask, height, width, |start, end| {
        Some((
            start.saturating_sub(r),
            end.saturating_add(r).min(width - 1),
        ))
    });
    vertical(&rows, height, width, r, |count, _| count > 0)
}

/// Box erosion with zero padding: `out[i, j] = 1` iff every pixel of the (2r+1)² box around
/// (i, j) is set and the box lies inside the image.
///
/// This equals OpenCV's `erode(pad(mask, 1, 0), ones(3, 3), iterations=r)` cropped back, the
/// erosion inside HQ-SAM's `mask_to_boundary`: r iterations of a 3×3 erosion are one
/// (2r+1)² erosion, and the one-pixel zero ring erodes exactly the pixels within r of the border.
pub fn erode_box(mask: &[u8], height: usize, width: usize, r: usize) -> Vec<u8> {
    let rows = horizontal(mask, height, width, |start, end| {
        let lo = start.checked_add(r)?;
        let hi = end.checked_sub(r)?;
        (lo <= hi).then_some((lo, hi))
    });
    let full = 2 * r as u64 + 1;
    vertical(&rows, height, width, r, |count, inside| {
        inside && u64::from(count) == full
    })
}

/// Maps each row's foreground runs `[start, end]` (inclusive) to the span `map` returns.
fn horizontal(
    mask: &[u8],
    height: usize,
    width: usize,
    map: impl Fn(usize, usize) -> Option<(usize, usize)>,
) -> Vec<u8> {
    let mut out = vec![0u8; height * width];
    for (row, dst) in mask.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let mut j = 0;
        while j < width {
            if row[j] == 0 {
                j += 1;
                continue;
            }
            let start = j;
            while j < width && row[j] != 0 {
                j += 1;
            }
            if let Some((lo, hi)) = map(start, j - 1) {
                dst[lo..=hi].fill(1);
            }
        }
    }
    out
}

/// Slides a (2r+1)-row window down each column; `keep(count, inside)` decides each output
/// pixel from the number of set pixels in the (clipped) window and whether the whole window
/// lies inside the image.
fn vertical(
    rows: &[u8],
    height: usize,
    width: usize,
    r: usize,
    keep: impl Fn(u32, bool) -> bool,
) -> Vec<u8> {
    let mut out = vec![0u8; height * width];
    let mut count = vec![0u32; width];
    let row = |i: usize| &rows[i * width..(i + 1) * width];
    for i in 0..height.min(r.saturating_add(1)) {
        add_row(&mut count, row(i));
    }
    for i in 0..height {
        let inside = i >= r && i.checked_add(r).is_some_and(|last| last < height);
        for (o, &c) in out[i * width..(i + 1) * width].iter_mut().zip(&count) {
            *o = u8::from(keep(c, inside));
        }
        if let Some(next) = i.checked_add(r + 1).filter(|&n| n < height) {
            add_row(&mut count, row(next));
        }
        if i >= r {
            for (c, &v) in count.iter_mut().zip(row(i - r)) {
                *c -= u32::from(v);
            }
        }
    }
    out
}

fn add_row(count: &mut [u32], row: &[u8]) {
    for (c, &v) in count.iter_mut().zip(row) {
        *c += u32::from(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (2r+1)² definition, evaluated naively.
    fn naive(mask: &[u8], h: usize, w: usize, r: usize, erode: bool) -> Vec<u8> {
        let (h, w, ri) = (h as isize, w as isize, r as isize);
        let mut out = vec![0u8; mask.len()];
        for i in 0..h {
            for j in 0..w {
                let mut any = false;
                let mut all = true;
                for di in -ri..=ri {
                    for dj in -ri..=ri {
                        let (y, x) = (i + di, j + dj);
                        let v =
                            y >= 0 && y < h && x >= 0 && x < w && mask[(y * w + x) as usize] != 0;
                        any |= v;
                        all &= v;
                    }
                }
                out[(i * w + j) as usize] = u8::from(if erode { all } else { any });
            }
        }
        out
    }

    fn pattern(h: usize, w: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..h * w)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                u8::from(!(s >> 33).is_multiple_of(3))
            })
            .collect()
    }

    #[test]
    fn dilation_and_erosion_match_the_naive_box_definition() {
        for (h, w) in [(1, 1), (1, 7), (6, 1), (9, 13), (17, 5)] {
            for r in 0..5 {
                for seed in 0..3 {
                    let m = pattern(h, w, seed);
                    assert_eq!(
                        dilate_box(&m, h, w, r),
                        naive(&m, h, w, r, false),
                        "{h}x{w} r={r}"
                    );
                    assert_eq!(
                        erode_box(&m, h, w, r),
                        naive(&m, h, w, r, true),
                        "{h}x{w} r={r}"
                    );
                }
            }
        }
    }

    #[test]
    fn erosion_of_a_full_mask_keeps_only_pixels_at_least_r_from_the_border() {
        let out = erode_box(&[1; 25], 5, 5, 2);
        assert_eq!(out.iter().map(|&v| usize::from(v)).sum::<usize>(), 1);
        assert_eq!(out[12], 1);
    }
}
