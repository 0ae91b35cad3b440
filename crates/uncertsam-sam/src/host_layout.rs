//! Layout changes of the mask decoder on the CPU backend, written once in the layout the next
//! operations read: the image tokens channels-last ([`channels_last`]) and the 2x2 pixel
//! shuffle of the upscaling's transposed convolutions, with its bias ([`pixel_shuffle_2x2`]).
//!
//! burn keeps a permuted tensor as a strided view, so each later element-wise operation on it
//! (the key positional-encoding adds of every attention, the bias add of the upscaling) walks
//! memory across rows; in a one-box decode these adds took about a fifth of the time
//! (docs/performance.md, "Decoder layouts"). Here the values are copied once into standard
//! layout, tile by tile, and the bias is added in the same pass: each output element is the
//! same f32 value (or the same single addition) as before, so results are bitwise unchanged.
//! Any other backend runs the burn operations.

use burn::prelude::*;

use crate::host::{HostReshape, give_buffer, with_f32_slice};
use crate::parallel::threads_for;

/// `x: [b, c, h, w]` as the tokens `[b, h * w, c]` (`reshape` then `swap_dims(1, 2)`), in
/// standard layout on the CPU backend: no copy when `x` is a channels-first view of
/// channels-last values (the dense positional encoding), else one tiled transpose.
pub(crate) fn channels_last<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, c, h, w] = x.dims();
    let n = h * w;
    let nhwc = x.clone().permute([0, 2, 3, 1]);
    if with_f32_slice(&nhwc, |_| ()).is_some() {
        return nhwc.host_reshape([b, n, c]);
    }
    let x = x.host_reshape([b, c, n]);
    let moved = with_f32_slice(&x, |src| {
        let mut out = vec![0f32; b * c * n];
        for (s, d) in src.chunks_exact(c * n).zip(out.chunks_exact_mut(c * n)) {
            transpose(s, d, c, n);
        }
        out
    });
    match moved {
        Some(out) if c * n > 0 => give_buffer(out, [b, n, c]),
        _ => x.swap_dims(1, 2),
    }
}

/// `src: [rows, cols]` into `dst: [cols, rows]`: 8 x 8 blocks through a register tile, the
/// edges element by element.
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    const T: usize = 8;
    let (r8, c8) = (rows - rows % T, cols - cols % T);
    for r0 in (0..r8).step_by(T) {
        for c0 in (0..c8).step_by(T) {
            let mut tile = [[0f32; T]; T];
            for (i, t) in tile.iter_mut().enumerate() {
                t.copy_from_slice(&src[(r0 + i) * cols + c0..][..T]);
            }
            for j in 0..T {
                let d: &mut [f32; T] = (&mut dst[(c0 + j) * rows + r0..][..T])
                    .try_into()
                    .expect("T values");
                for (i, v) in d.iter_mut().enumerate() {
                    *v = tile[i][j];
                }
            }
        }
    }
    for r in 0..rows {
        let from = if r < r8 { c8 } else { 0 };
        for c in from..cols {
            dst[c * rows + r] = src[r * cols + c];
        }
    }
}

/// A 2x2 stride-2 transposed convolution's product `y: [n, out * 4, h * w]` (rows ordered
/// `(out, ky, kx)`) as the image `[n, out, 2h, 2w]`, plus `bias: [out]` when given; `None` off
/// the CPU backend or for a tensor not in standard layout.
pub(crate) fn pixel_shuffle_2x2<B: Backend>(
    y: &Tensor<B, 3>,
    bias: Option<&Tensor<B, 1>>,
    [n, out, h, w]: [usize; 4],
) -> Option<Tensor<B, 4>> {
    if y.dims() != [n, out * 4, h * w] || h * w == 0 {
        return None;
    }
    let bias = match bias {
        Some(b) => Some(with_f32_slice(b, <[f32]>::to_vec).filter(|b| b.len() == out)?),
        None => None,
    };
    let plane = 4 * h * w;
    let shuffled = with_f32_slice(y, |src| {
        let mut dst = vec![0f32; src.len()];
        let fill = |first: usize, planes: &mut [f32]| {
            for (i, d) in planes.chunks_exact_mut(plane).enumerate() {
                let p = first + i;
                let b = bias.as_ref().map(|b| b[p % out]);
                shuffle_plane(&src[p * plane..][..plane], d, h, w, b);
            }
        };
        let planes = n * out;
        let t = threads_for(dst.len()).min(planes);
        if t <= 1 {
            fill(0, &mut dst);
        } else {
            let per = planes.div_ceil(t);
            std::thread::scope(|s| {
                for (k, block) in dst.chunks_mut(per * plane).enumerate() {
                    let fill = &fill;
                    s.spawn(move || fill(k * per, block));
                }
            });
        }
        dst
    })?;
    Some(give_buffer(shuffled, [n, out, 2 * h, 2 * w]))
}

/// One output channel: `src` holds its four `[h, w]` kernel taps `(ky, kx)`, `dst` is its
/// `[2h, 2w]` image, `dst[2i + ky][2j + kx] = src[ky][kx][i][j] (+ bias)`.
fn shuffle_plane(src: &[f32], dst: &mut [f32], h: usize, w: usize, bias: Option<f32>) {
    let hw = h * w;
    for ky in 0..2 {
        let (t0, t1) = (&src[(2 * ky) * hw..][..hw], &src[(2 * ky + 1) * hw..][..hw]);
        for i in 0..h {
            let row = &mut dst[(2 * i + ky) * 2 * w..][..2 * w];
            let (a, b) = (&t0[i * w..][..w], &t1[i * w..][..w]);
            match bias {
                // No bias: the values themselves (adding 0.0 would turn -0.0 into +0.0).
                None => {
                    for (j, pair) in row.chunks_exact_mut(2).enumerate() {
                        pair[0] = a[j];
                        pair[1] = b[j];
                    }
                }
                Some(c) => {
                    for (j, pair) in row.chunks_exact_mut(2).enumerate() {
                        pair[0] = a[j] + c;
                        pair[1] = b[j] + c;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    use super::*;

    type Cpu = NdArray<f32>;

    fn bits<const D: usize>(t: Tensor<Cpu, D>) -> Vec<u32> {
        let v: Vec<f32> = t.into_data().to_vec().expect("f32");
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn channels_last_is_the_reshaped_swapped_view() {
        let d = Default::default();
        for [b, c, h, w] in [[1, 5, 7, 1], [2, 33, 7, 10], [3, 1, 1, 1], [1, 16, 8, 8]] {
            let x = Tensor::<Cpu, 4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &d);
            let swapped = |x: Tensor<Cpu, 4>| x.reshape([b, c, h * w]).swap_dims(1, 2);
            assert_eq!(
                bits(channels_last(x.clone())),
                bits(swapped(x.clone())),
                "{b}x{c}x{h}x{w}"
            );
            // A channels-first view of channels-last values.
            let view = x
                .permute([0, 2, 3, 1])
                .reshape([b, h, w, c])
                .permute([0, 3, 1, 2]);
            assert_eq!(
                bits(channels_last(view.clone())),
                bits(swapped(view)),
                "{b}x{c}x{h}x{w} view"
            );
        }
    }

    #[test]
    fn the_pixel_shuffle_is_burns_permute_and_bias_add() {
        let d = Default::default();
        for (n, out, h, w, with_bias) in [
            (1, 3, 4, 5, true),
            (2, 2, 3, 3, false),
            (2, 64, 33, 32, true),
            (1, 32, 128, 129, true),
        ] {
            let y =
                Tensor::<Cpu, 3>::random([n, out * 4, h * w], Distribution::Normal(0.0, 1.0), &d);
            let bias = Tensor::<Cpu, 1>::random([out], Distribution::Normal(0.0, 1.0), &d);
            let bias = with_bias.then_some(bias);
            let burn = y
                .clone()
                .reshape([n, out, 2, 2, h, w])
                .permute([0, 1, 4, 2, 5, 3]);
            let burn = match &bias {
                Some(b) => burn + b.clone().reshape([1, out, 1, 1, 1, 1]),
                None => burn,
            }
            .reshape([n, out, 2 * h, 2 * w]);
            let ours = pixel_shuffle_2x2(&y, bias.as_ref(), [n, out, h, w]).expect("CPU backend");
            assert_eq!(bits(ours), bits(burn), "{n}x{out}x{h}x{w}");
        }
    }
}
