//! How the curvature is stored: laplace-torch's per-structure method set, one file each.
//!
//! | structure | stores | memory (f64) at D = 256, K = 32, P = 8224 |
//! |---|---|---|
//! | [`DiagPrecision`] | `diag(H)`, P values | 66 KB |
//! | [`KronPrecision`] | `B = Σ_n G_z⁽ⁿ⁾` (K × K), `Σ_n h_n h_nᵀ` (D × D), count | 0.5 MB |
//! | [`FullPrecision`] | `H` (P × P) | 541 MB, plus 2 × 541 MB for the factorised posterior |
//!
//! Every structure accumulates one example at a time from `h` and the K × K output-space GGN
//! `G_z` (the example's GGN is `J_zᵀ G_z J_z`), merges with a partial accumulator from another
//! shard, and factorises `H + diag(δ)` into a [`PosteriorFactor`] that the predictive and the
//! marginal likelihood use.

mod diag;
mod full;
mod kron;

pub use diag::{DiagFactor, DiagPrecision};
pub use full::{FullFactor, FullPrecision};
pub use kron::{KronFactor, KronPrecision};

use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::features::LayerShape;
use crate::prior::PriorPrecision;

/// A named tensor for saving: `(name, shape, row-major values)`.
pub type NamedTensor = (String, Vec<usize>, Vec<f64>);

/// Looks a saved tensor up by name and expected shape (see [`Precision::from_tensors`]).
pub type TensorGetter<'a> = dyn FnMut(&str, &[usize]) -> Result<Vec<f64>> + 'a;

/// A curvature accumulator `H ≈ Σ_n J_zᵀ G_z⁽ⁿ⁾ J_z` with one storage structure.
pub trait Precision: Clone + Send + Sync {
    /// Structure name (`diag`, `kron`, `full`).
    const NAME: &'static str;
    /// The factorised posterior precision `H + diag(δ)`.
    type Factor: PosteriorFactor;

    /// An empty accumulator (`H = 0`).
    fn zeros(shape: LayerShape) -> Self;
    /// The layer shape.
    fn shape(&self) -> LayerShape;
    /// Adds one example: `H += J_zᵀ G J_z` with `J_z = [I_K ⊗ hᵀ, I_K]`;
    /// `h` has length D and `g` is K × K row-major, symmetric.
    fn accumulate(&mut self, h: &[f64], g: &[f64]);
    /// Adds another shard's accumulator (same result as accumulating its examples here).
    fn merge(&mut self, other: &Self) -> Result<()>;
    /// The diagonal of `H` as this structure represents it (length P).
    fn ggn_diagonal(&self) -> Vec<f64>;
    /// `H` as a dense P × P row-major matrix, as this structure represents it
    /// (for tests and parity; allocates `8 P²` bytes).
    fn to_dense(&self) -> Vec<f64>;
    /// Factorises the posterior precision `H + diag(δ)`.
    fn factorize(&self, prior: &PriorPrecision) -> Result<Self::Factor>;
    /// The tensors that make up this accumulator, for saving.
    fn tensors(&self) -> Vec<NamedTensor>;
    /// Rebuilds an accumulator from [`Precision::tensors`]; `get` looks a tensor up by name.
    fn from_tensors(shape: LayerShape, get: &mut TensorGetter<'_>) -> Result<Self>;
}

/// A factorised posterior precision `Λ = H + diag(δ)`; everything the predictive and the
/// marginal likelihood need.
pub trait PosteriorFactor: Clone + Send + Sync {
    /// `log det Λ`.
    fn log_det_precision(&self) -> f64;
    /// `diag(Σ)` with `Σ = Λ^{-1}` (length P).
    fn covariance_diagonal(&self) -> Vec<f64>;
    /// Output-space covariance `Σ_z = J_z Σ J_zᵀ` (K × K row-major) for a layer input `h`:
    /// `(Σ_z)_{kl} = Σ_{j,j'} h̃_j h̃_{j'} Σ_{(k,j),(l,j')}` with `h̃ = (h, 1)`.
    fn z_covariance(&self, h: &[f64]) -> Vec<f64>;
    /// Draws `θ - θ_MAP ~ N(0, Σ)` into `out` (length P) using standard normals from `rng`.
    fn sample_offset(&self, rng: &mut ChaCha8Rng, out: &mut [f64]);
}

/// Symmetric eigendecomposition with eigenvalues clamped at 0 (as laplace-torch's `symeig`):
/// returns `(eigenvalues, eigenvectors row-major, column r = eigenvector r)`.
pub(crate) fn sym_eig(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let m = nalgebra::DMatrix::from_row_slice(n, n, a);
    let eig = nalgebra::SymmetricEigen::new(m);
    let vals: Vec<f64> = eig.eigenvalues.iter().map(|&l| l.max(0.0)).collect();
    let mut vecs = vec![0.0; n * n];
    for i in 0..n {
        for r in 0..n {
            vecs[i * n + r] = eig.eigenvectors[(i, r)];
        }
    }
    (vals, vecs)
}
