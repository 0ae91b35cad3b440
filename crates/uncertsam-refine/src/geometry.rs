//! Binary-grid geometry for the click simulator: connected components, the exact Euclidean
//! distance transform and region centres. Grids are row-major `&[bool]` of size `[h, w]`;
//! pixels beyond the end of a too-short grid count as `false`.

/// Squared-distance stand-in for "infinitely far" in the distance transform.
const FAR: f64 = 1e12;

/// Labels the 4-connected components of `mask` (0 = background, `1..=n` = component ids in
/// raster order of their first pixel) and returns the labels and each component's area.
pub fn connected_components(mask: &[bool], [h, w]: [usize; 2]) -> (Vec<u32>, Vec<usize>) {
    let mask = |i: usize| mask.get(i).copied().unwrap_or(false);
    let mut labels = vec![0u32; h * w];
    let mut areas = Vec::new();
    let mut stack = Vec::new();
    for start in 0..h * w {
        if !mask(start) || labels[start] != 0 {
            continue;
        }
        let id = areas.len() as u32 + 1;
        let mut area = 0;
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            area += 1;
            let (y, x) = (i / w, i % w);
            let mut visit = |j: usize| {
                if mask(j) && labels[j] == 0 {
                    labels[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        areas.push(area);
    }
    (labels, areas)
}

/// The largest 4-connected component of `mask` (ties: the one met first in raster order), or
/// `None` when `mask` is empty.
pub fn largest_component(mask: &[bool], size: [usize; 2]) -> Option<Vec<bool>> {
    let (labels, areas) = connected_components(mask, size);
    let best = areas
        .iter()
        .enumerate()
        .fold(None, |best: Option<(usize, usize)>, (i, &a)| match best {
            Some((_, b)) if b >= a => best,
            _ => Some((i, a)),
        })?;
    let id = best.0 as u32 + 1;
    Some(labels.iter().map(|&l| l == id).collect())
}

/// Exact Euclidean distance from each pixel of `mask` to the nearest pixel outside it, the
/// image border counting as outside (the mask is zero-padded by one pixel, as the RITM / NoC
/// click simulator does); 0 outside the mask.
pub fn distance_transform(mask: &[bool], [h, w]: [usize; 2]) -> Vec<f32> {
    // Felzenszwalb & Huttenlocher: 1-D squared transforms along columns, then rows, on the
    // padded grid.
    let (ph, pw) = (h + 2, w + 2);
    let mut f = vec![0.0f64; ph * pw];
    for y in 0..h {
        for x in 0..w {
            if mask.get(y * w + x).copied().unwrap_or(false) {
                f[(y + 1) * pw + x + 1] = FAR;
            }
        }
    }
    let mut col = vec![0.0; ph];
    for x in 0..pw {
        for y in 0..ph {
            col[y] = f[y * pw + x];
        }
        let d = edt_1d(&col);
        for y in 0..ph {
            f[y * pw + x] = d[y];
        }
    }
    let mut out = vec![0.0f32; h * w];
    for y in 0..h {
        let d = edt_1d(&f[(y + 1) * pw..(y + 2) * pw]);
        for x in 0..w {
            out[y * w + x] = d[x + 1].sqrt() as f32;
        }
    }
    out
}

/// 1-D squared distance transform of the sampled function `f` (lower envelope of parabolas).
fn edt_1d(f: &[f64]) -> Vec<f64> {
    let n = f.len();
    let mut v = vec![0usize; n];
    let mut z = vec![0.0f64; n + 1];
    let mut k = 0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    let sq = |q: usize| (q * q) as f64;
    let meet =
        |q: usize, p: usize| ((f[q] + sq(q)) - (f[p] + sq(p))) / (2.0 * (q as f64 - p as f64));
    for q in 1..n {
        let mut s = meet(q, v[k]);
        while s <= z[k] {
            k -= 1;
            s = meet(q, v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    let mut k = 0;
    (0..n)
        .map(|q| {
            while z[k + 1] < q as f64 {
                k += 1;
            }
            let p = v[k];
            (q as f64 - p as f64).powi(2) + f[p]
        })
        .collect()
}

/// The centre of a region: the pixel farthest from the region's boundary (argmax of the
/// distance transform; ties: first in raster order), as `(x, y)` with its distance.
pub fn region_centre(region: &[bool], size: [usize; 2]) -> Option<([usize; 2], f32)> {
    let dt = distance_transform(region, size);
    argmax(&dt).map(|(i, d)| ([i % size[1], i / size[1]], d))
}

/// Index and value of the first maximum of positive values, `None` if all are `<= 0`.
pub(crate) fn argmax(v: &[f32]) -> Option<(usize, f32)> {
    v.iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, &x)| match best {
            Some((_, b)) if b >= x => best,
            _ if x > 0.0 => Some((i, x)),
            _ => best,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(mask: &[bool], [h, w]: [usize; 2]) -> Vec<f32> {
        let outside = |y: i64, x: i64| {
            y < 0 || x < 0 || y >= h as i64 || x >= w as i64 || !mask[y as usize * w + x as usize]
        };
        (0..h * w)
            .map(|i| {
                if !mask[i] {
                    return 0.0;
                }
                let (y, x) = ((i / w) as i64, (i % w) as i64);
                let mut best = f64::INFINITY;
                for yy in -1..=h as i64 {
                    for xx in -1..=w as i64 {
                        if outside(yy, xx) {
                            best = best.min((((yy - y).pow(2) + (xx - x).pow(2)) as f64).sqrt());
                        }
                    }
                }
                best as f32
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn distance_transform_equals_brute_force(
            bits in proptest::collection::vec(proptest::bool::weighted(0.7), 7 * 9)
        ) {
            let fast = distance_transform(&bits, [7, 9]);
            let slow = brute_force(&bits, [7, 9]);
            for (a, b) in fast.iter().zip(&slow) {
                proptest::prop_assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn components_are_four_connected_and_the_largest_wins() {
        // Diagonal neighbours are separate components; the L-shaped block is the largest.
        let m = [
            true, false, false, false, //
            false, true, false, true, //
            false, false, false, true, //
            false, false, true, true,
        ];
        let (labels, areas) = connected_components(&m, [4, 4]);
        assert_eq!(areas, vec![1, 1, 4]);
        assert_eq!(labels[0], 1);
        let big = largest_component(&m, [4, 4]).expect("non-empty");
        assert_eq!(big.iter().filter(|&&b| b).count(), 4);
        assert!(big[7] && big[11] && big[15] && big[14]);
        assert_eq!(largest_component(&[false; 4], [2, 2]), None);
    }

    #[test]
    fn the_centre_of_a_rectangle_is_its_middle() {
        let (h, w) = (9, 12);
        let m: Vec<bool> = (0..h * w)
            .map(|i| (2..7).contains(&(i / w)) && (3..8).contains(&(i % w)))
            .collect();
        let (c, d) = region_centre(&m, [h, w]).expect("region");
        assert_eq!(c, [5, 4]);
        assert_eq!(d, 3.0);
    }
}
