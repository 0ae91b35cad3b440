//! Linear interpolation as PyTorch's `F.interpolate(..., mode="linear"|"bilinear",
//! align_corners=False)` without antialiasing, expressed as interpolation matrices so that a
//! resize is one or two matrix products on any backend.

use crate::host::HostReshape;
use burn::prelude::*;

/// The `[out, in]` matrix `M` with `y = M x` equal to PyTorch's 1-D linear resize.
///
/// Source coordinate of output `d` is `max(0, (d + 0.5) * in / out - 0.5)`; it blends the two
/// neighbouring inputs `floor(src)` and `min(floor(src) + 1, in - 1)`.
pub fn linear_resize_matrix(input: usize, output: usize) -> Vec<f32> {
    let mut m = vec![0f32; input * output];
    if input == 0 {
        return m;
    }
    let scale = input as f32 / output as f32;
    for d in 0..output {
        let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (src as usize).min(input - 1);
        let i1 = (i0 + 1).min(input - 1);
        let l1 = src - i0 as f32;
        let l0 = 1.0 - l1;
        m[d * input + i0] += l0;
        m[d * input + i1] += l1;
    }
    m
}

/// Bilinear resize (align_corners=False, no antialias) of the last two axes.
///
/// # Shapes
/// - x: `[n, c, h, w]` -> `[n, c, out_h, out_w]`
pub fn resize_bilinear<B: Backend>(x: Tensor<B, 4>, out_hw: [usize; 2]) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    if [h, w] == out_hw {
        return x;
    }
    let device = x.device();
    let mh = Tensor::<B, 2>::from_data(
        TensorData::new(linear_resize_matrix(h, out_hw[0]), [out_hw[0], h]),
        &device,
    );
    let mw_t = Tensor::<B, 2>::from_data(
        TensorData::new(linear_resize_matrix(w, out_hw[1]), [out_hw[1], w]),
        &device,
    )
    .transpose();
    // Width first: [n*c*h, w] @ [w, ow] -> [n*c, h, ow]; then height: [oh, h] @ [n*c, h, ow].
    let x = x
        .host_reshape([n * c * h, w])
        .matmul(mw_t)
        .host_reshape([n * c, h, out_hw[1]]);
    let x = mh.unsqueeze::<3>().matmul(x);
    x.host_reshape([n, c, out_hw[0], out_hw[1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_size_gives_identity_matrix() {
        let m = linear_resize_matrix(3, 3);
        assert_eq!(m, vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]);
    }

    #[test]
    fn upsampling_by_two_matches_pytorch_weights() {
        // torch: F.interpolate(torch.tensor([[[0., 1.]]]), size=4, mode="linear") = [0, .25, .75, 1]
        let m = linear_resize_matrix(2, 4);
        let y: Vec<f32> = (0..4).map(|d| m[d * 2 + 1]).collect();
        assert_eq!(y, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn every_row_sums_to_one() {
        for (i, o) in [(5, 17), (17, 5), (1, 4), (64, 256)] {
            let m = linear_resize_matrix(i, o);
            for d in 0..o {
                let s: f32 = m[d * i..(d + 1) * i].iter().sum();
                assert!((s - 1.0).abs() < 1e-6, "{i}->{o} row {d} sums to {s}");
            }
        }
    }
}
