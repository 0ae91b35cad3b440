//! The CPU backend's copy-free reshape and matrix product, and read access to a tensor's values,
//! for the crates that compute on the model's outputs (the estimators): on `NdArray<f32>` they
//! work on the tensors' own buffers ([`crate`]'s `host` kernels, bitwise burn's results up to
//! `k = 256` for products); on any other backend they are burn's operations (`with_values`
//! returns `None`). Also how many threads a host pass should split into.

use burn::prelude::*;

use crate::host;
pub use crate::parallel::threads_for;

/// `x.reshape(dims)`, without burn-ndarray's copy of a standard-layout tensor.
pub fn reshape<B: Backend, const D: usize, const D2: usize>(
    x: Tensor<B, D>,
    dims: [usize; D2],
) -> Tensor<B, D2> {
    host::reshape(x, dims)
}

/// `a.matmul(b)` for `[..., m, k]` and `[..., k, n]` (leading axes equal or 1; `D >= 3`), on
/// the operands' own buffers; see `host::product_into` for the kernel.
pub fn matmul<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    host::matmul_batched(a, b)
}

/// `f` of the values of `x` in row-major order, read in place; `None` on another backend, for
/// another dtype or for a tensor not in standard layout.
pub fn with_values<B: Backend, const D: usize, R>(
    x: &Tensor<B, D>,
    f: impl FnOnce(&[f32]) -> R,
) -> Option<R> {
    host::with_f32_slice(x, f)
}
