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
    let rows = dilate_rows(mask, height, width, r);
    let mut out = vec![0u8; height * width];
    let mut window = ColumnWindow::new(&rows, height, width, r);
    for dst in out.chunks_exact_mut(width) {
        for (o, &c) in dst.iter_mut().zip(window.counts()) {
            *o = u8::from(c > 0);
        }
        window.advance();
    }
    out
}

/// Box erosion with zero padding: `out[i, j] = 1` iff every pixel of the (2r+1)² box around
/// (i, j) is set and the box lies inside the image.
///
/// This equals OpenCV's `erode(pad(mask, 1, 0), ones(3, 3), iterations=r)` cropped back, the
/// erosion inside HQ-SAM's `mask_to_boundary`: r iterations of a 3×3 erosion are one
/// (2r+1)² erosion, and the one-pixel zero ring erodes exactly the pixels within r of the border.
#[cfg(test)]
pub fn erode_box(mask: &[u8], height: usize, width: usize, r: usize) -> Vec<u8> {
    let rows = erode_rows(mask, height, width, r);
    let mut out = vec![0u8; height * width];
    let mut window = ColumnWindow::new(&rows, height, width, r);
    for dst in out.chunks_exact_mut(width) {
        let full = window.full();
        for (o, &c) in dst.iter_mut().zip(window.counts()) {
            *o = u8::from(c == full);
        }
        window.advance();
    }
    out
}

/// The horizontal half of [`dilate_box`]: every row's foreground runs widened by `r`.
pub(crate) fn dilate_rows(mask: &[u8], height: usize, width: usize, r: usize) -> Vec<u8> {
    horizontal(mask, height, width, |start, end| {
        Some((
            start.saturating_sub(r),
            end.saturating_add(r).min(width - 1),
        ))
    })
}

/// The horizontal half of the box erosion: every row's foreground runs narrowed by `r` (a
/// run touching the image border is narrowed there too: zero padding).
pub(crate) fn erode_rows(mask: &[u8], height: usize, width: usize, r: usize) -> Vec<u8> {
    horizontal(mask, height, width, |start, end| {
        let lo = start.checked_add(r)?;
        let hi = end.checked_sub(r)?;
        (lo <= hi).then_some((lo, hi))
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

/// A (2r+1)-row window sliding down the columns of a 0/1 mask: for output row i = 0, 1, …
/// (in order, [`ColumnWindow::advance`] between rows) the number of set pixels of each column
/// in rows i − r ..= i + r, clipped to the image.
pub(crate) struct ColumnWindow<'a> {
    rows: &'a [u8],
    height: usize,
    width: usize,
    r: usize,
    /// The output row.
    i: usize,
    count: Vec<u32>,
}

impl<'a> ColumnWindow<'a> {
    /// The window of output row 0.
    pub(crate) fn new(rows: &'a [u8], height: usize, width: usize, r: usize) -> Self {
        let mut window = Self {
            rows,
            height,
            width,
            r,
            i: 0,
            count: vec![0u32; width],
        };
        for i in 0..height.min(r.saturating_add(1)) {
            let row = window.row(i);
            for (c, &v) in window.count.iter_mut().zip(row) {
                *c += u32::from(v);
            }
        }
        window
    }

    fn row(&self, i: usize) -> &'a [u8] {
        &self.rows[i * self.width..(i + 1) * self.width]
    }

    /// Per-column counts of the current row's window.
    pub(crate) fn counts(&self) -> &[u32] {
        &self.count
    }

    /// The count of a column whose window is full: 2r + 1 when the whole window lies inside
    /// the image, else `u32::MAX`, which no count reaches (so erosion keeps nothing).
    pub(crate) fn full(&self) -> u32 {
        let (i, r) = (self.i, self.r);
        let inside = i >= r && i.checked_add(r).is_some_and(|last| last < self.height);
        if inside {
            u32::try_from(2 * r as u64 + 1).unwrap_or(u32::MAX)
        } else {
            u32::MAX
        }
    }

    /// Moves to the next output row: adds the row entering the window, drops the one leaving.
    pub(crate) fn advance(&mut self) {
        let (i, r) = (self.i, self.r);
        let next = i
            .checked_add(r + 1)
            .filter(|&n| n < self.height)
            .map(|n| self.row(n));
        let prev = (i >= r).then(|| self.row(i - r));
        match (next, prev) {
            (Some(next), Some(prev)) => {
                for ((c, &a), &b) in self.count.iter_mut().zip(next).zip(prev) {
                    *c = *c + u32::from(a) - u32::from(b);
                }
            }
            (Some(next), None) => {
                for (c, &a) in self.count.iter_mut().zip(next) {
                    *c += u32::from(a);
                }
            }
            (None, Some(prev)) => {
                for (c, &b) in self.count.iter_mut().zip(prev) {
                    *c -= u32::from(b);
                }
            }
            (None, None) => {}
        }
        self.i += 1;
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
