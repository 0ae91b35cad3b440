//! Layers shared by the SAM parts: `LayerNorm2d`, `MlpBlock` and the hypernetwork `Mlp`
//! (`segment_anything/modeling/common.py` and the `MLP` of `mask_decoder.py`).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::host::{HostReshape, gelu};

use crate::conv::linear_flat;

/// A `Linear` layer with the official (PyTorch) parameter names.
pub(crate) fn linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    bias: bool,
    device: &B::Device,
) -> Linear<B> {
    LinearConfig::new(d_in, d_out).with_bias(bias).init(device)
}

/// LayerNorm over the channel axis of an `[n, c, h, w]` tensor, with a per-channel affine.
#[derive(Module, Debug)]
pub struct LayerNorm2d<B: Backend> {
    /// Per-channel scale, `[c]`.
    pub weight: Param<Tensor<B, 1>>,
    /// Per-channel shift, `[c]`.
    pub bias: Param<Tensor<B, 1>>,
    eps: f64,
}

impl<B: Backend> LayerNorm2d<B> {
    /// A LayerNorm2d with unit scale and zero shift.
    pub fn new(channels: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            eps,
        }
    }

    /// `(x - mean_c) / sqrt(var_c + eps) * weight + bias`, statistics over channels.
    ///
    /// # Shapes
    /// - x: `[n, c, h, w]` -> `[n, c, h, w]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let c = x.dims()[1];
        let mean = x.clone().mean_dim(1);
        let centred = x - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(1);
        let normed = centred / (var + self.eps).sqrt();
        let w = self.weight.val().host_reshape([1, c, 1, 1]);
        let b = self.bias.val().host_reshape([1, c, 1, 1]);
        normed * w + b
    }
}

/// Two-layer MLP `lin2(act(lin1(x)))`; GELU in the ViT, ReLU in the two-way transformer.
#[derive(Module, Debug)]
pub struct MlpBlock<B: Backend> {
    /// First projection, `dim -> mlp_dim`.
    pub lin1: Linear<B>,
    /// Second projection, `mlp_dim -> dim`.
    pub lin2: Linear<B>,
    gelu: bool,
}

impl<B: Backend> MlpBlock<B> {
    /// An MLP block with GELU (`gelu = true`) or ReLU activation.
    pub fn new(dim: usize, mlp_dim: usize, gelu: bool, device: &B::Device) -> Self {
        Self {
            lin1: linear(dim, mlp_dim, true, device),
            lin2: linear(mlp_dim, dim, true, device),
            gelu,
        }
    }

    /// Applies the block to the last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let h = linear_flat(&self.lin1, x);
        let h = if self.gelu { gelu(h) } else { relu(h) };
        linear_flat(&self.lin2, h)
    }

    /// The block with its hidden activation passed through `noise` (used by MC dropout).
    pub fn forward_with<const D: usize>(
        &self,
        x: Tensor<B, D>,
        noise: &mut dyn FnMut(Tensor<B, D>) -> Tensor<B, D>,
    ) -> Tensor<B, D> {
        let h = linear_flat(&self.lin1, x);
        let h = if self.gelu { gelu(h) } else { relu(h) };
        linear_flat(&self.lin2, noise(h))
    }
}

/// The decoder's MLP: `num_layers` Linear layers with ReLU between them (`layers.{i}`).
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// The Linear layers, in order.
    pub layers: Vec<Linear<B>>,
}

impl<B: Backend> Mlp<B> {
    /// `input -> hidden -> ... -> hidden -> output`, `num_layers` layers in all.
    pub fn new(
        input: usize,
        hidden: usize,
        output: usize,
        num_layers: usize,
        device: &B::Device,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|i| {
                let d_in = if i == 0 { input } else { hidden };
                let d_out = if i + 1 == num_layers { output } else { hidden };
                linear(d_in, d_out, true, device)
            })
            .collect();
        Self { layers }
    }

    /// Applies the MLP to the last axis.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        self.forward_hidden(x).1
    }

    /// The input of the last layer (the features last-layer methods need) and the output.
    pub fn forward_hidden<const D: usize>(
        &self,
        mut x: Tensor<B, D>,
    ) -> (Tensor<B, D>, Tensor<B, D>) {
        let last = self.layers.len().saturating_sub(1);
        for layer in &self.layers[..last] {
            x = relu(linear_flat(layer, x));
        }
        let out = match self.layers.last() {
            Some(layer) => linear_flat(layer, x.clone()),
            None => x.clone(),
        };
        (x, out)
    }
}
