//! The image-encoder neck of SAM 2 (`sam2/modeling/backbones/image_encoder.py`): `FpnNeck`
//! (1x1 lateral convolutions, nearest 2x top-down fusion by sum on `fpn_top_down_levels`) and
//! its sine position encoding (`sam2/modeling/position_encoding.py`, `PositionEmbeddingSine`
//! with `normalize=True`, scale 2 pi, temperature 10000), computed in f32 like the official code.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::conv::conv_patchify;
use crate::host::HostReshape;

/// One lateral convolution (`convs.{i}` is a `Sequential` with one `conv`).
#[derive(Module, Debug)]
pub struct Lateral<B: Backend> {
    /// `Conv2d(backbone_dim, d_model, 1)`.
    pub conv: Conv2d<B>,
}

/// The FPN neck.
#[derive(Module, Debug)]
pub struct FpnNeck<B: Backend> {
    /// Lateral convolutions, coarsest level first (`backbone_channel_list` order).
    pub convs: Vec<Lateral<B>>,
    fpn_top_down_levels: Vec<usize>,
}

impl<B: Backend> FpnNeck<B> {
    /// A neck from `backbone_channel_list` (coarsest first) to `d_model` channels.
    pub fn new(
        backbone_channel_list: &[usize],
        d_model: usize,
        fpn_top_down_levels: &[usize],
        device: &B::Device,
    ) -> Self {
        Self {
            convs: backbone_channel_list
                .iter()
                .map(|&c| Lateral {
                    conv: Conv2dConfig::new([c, d_model], [1, 1]).init(device),
                })
                .collect(),
            fpn_top_down_levels: fpn_top_down_levels.to_vec(),
        }
    }

    /// Fuses the trunk's stage outputs (finest first, channels last) into `d_model` maps.
    ///
    /// # Shapes
    /// - xs: `[n, h_i, w_i, c_i]` -> `[n, d_model, h_i, w_i]`, finest first
    pub fn forward(&self, xs: Vec<Tensor<B, 4>>) -> Vec<Tensor<B, 4>> {
        let n = self.convs.len() - 1;
        let mut out: Vec<Option<Tensor<B, 4>>> = vec![None; xs.len()];
        let mut prev: Option<Tensor<B, 4>> = None;
        for (i, x) in xs.into_iter().enumerate().rev() {
            let lateral = conv_patchify(&self.convs[n - i].conv, x.permute([0, 3, 1, 2]));
            let fused = match prev.take() {
                Some(p) if self.fpn_top_down_levels.contains(&i) => lateral + upsample_nearest2(p),
                _ => lateral,
            };
            out[i] = Some(fused.clone());
            prev = Some(fused);
        }
        out.into_iter().flatten().collect()
    }
}

/// `F.interpolate(x, scale_factor=2, mode="nearest")`.
fn upsample_nearest2<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.host_reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .host_reshape([n, c, 2 * h, 2 * w])
}

/// `PositionEmbeddingSine(num_pos_feats = d_model)` of an `h x w` map: `d_model / 2` channels of
/// y then of x, each alternating sin and cos.
///
/// # Shapes
/// -> `[1, d_model, h, w]`
pub fn position_embedding_sine<B: Backend>(
    d_model: usize,
    [h, w]: [usize; 2],
    device: &B::Device,
) -> Tensor<B, 4> {
    let npf = d_model / 2;
    let scale = 2.0 * std::f32::consts::PI;
    let eps = 1e-6f32;
    let dim_t: Vec<f32> = (0..npf)
        .map(|i| 10000f32.powf(2.0 * (i / 2) as f32 / npf as f32))
        .collect();
    let embed = |v: usize, len: usize| (v as f32 + 1.0) / (len as f32 + eps) * scale;
    let mut data = vec![0f32; d_model * h * w];
    for (axis, len) in [(0usize, h), (1, w)] {
        for y in 0..h {
            for x in 0..w {
                let e = embed(if axis == 0 { y } else { x }, len);
                for (k, &t) in dim_t.iter().enumerate() {
                    let p = e / t;
                    let v = if k % 2 == 0 { p.sin() } else { p.cos() };
                    data[((axis * npf + k) * h + y) * w + x] = v;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [1, d_model, h, w]), device)
}
