//! A seam for perturbing the mask decoder's activations (MC dropout and the like).
//!
//! The model knows nothing of uncertainty: it only calls `NoiseHook::apply` at named sites.
//! `NoNoise` leaves every activation unchanged; estimators supply their own hooks.

use burn::prelude::*;

/// A place in the mask decoder where a hook may perturb an activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecoderSite {
    /// Output of the token self-attention of two-way block `i` (not applied in block 0, whose
    /// self-attention output replaces the queries).
    SelfAttention(usize),
    /// Output of the token-to-image cross-attention of block `i`.
    TokenToImage(usize),
    /// Hidden layer of the MLP of block `i`.
    TransformerMlp(usize),
    /// Output of the image-to-token cross-attention of block `i`.
    ImageToToken(usize),
    /// Output of the final token-to-image attention.
    FinalTokenToImage,
    /// Hidden layer `layer` of the hypernetwork MLP of mask token `token`.
    Hypernetwork {
        /// Mask token index (0 = single-mask token).
        token: usize,
        /// Hidden layer index.
        layer: usize,
    },
}

/// Perturbs activations at decoder sites. Shapes are `[b, n, d]`.
pub trait NoiseHook<B: Backend> {
    /// Returns the (possibly perturbed) activation at `site`.
    fn apply(&mut self, site: DecoderSite, x: Tensor<B, 3>) -> Tensor<B, 3>;
}

/// The identity hook: a plain deterministic forward pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNoise;

impl<B: Backend> NoiseHook<B> for NoNoise {
    fn apply(&mut self, _site: DecoderSite, x: Tensor<B, 3>) -> Tensor<B, 3> {
        x
    }
}
