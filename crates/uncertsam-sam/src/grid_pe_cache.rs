//! The dense positional encoding of the embedding grid (`get_dense_pe`), computed once per
//! Gaussian matrix and grid on the CPU backend.
//!
//! Every decode adds it to the image tokens, and it depends only on the prompt encoder's
//! random-Fourier matrix and the grid size: at the ViT-B geometry it is 4096 x 128 `sin` and
//! `cos` calls, about a tenth of a one-box decode (docs/performance.md, "Decoder layouts").
//! Entries are keyed by the matrix's bits, so loading other weights can never return a stale
//! encoding; a hit hands out the computed tensor itself (the same values, shared). Other
//! backends (autodiff, where the matrix is a parameter, and CUDA) compute it on every call.

use std::any::Any;
use std::sync::Mutex;

use burn::prelude::*;

use crate::host::with_f32_slice;

/// The Gaussian matrix's bits, the grid, and its encoding (a `Tensor<B, 3>`).
type Entry = (Vec<u32>, [usize; 2], Box<dyn Any + Send>);

/// The most recent encodings (a few models with different matrices at once, e.g. ensembles).
static CACHE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
const ENTRIES: usize = 8;

/// `compute()`, the encoding of `grid` under `matrix`, or the one computed before for the
/// same matrix values and grid.
pub(crate) fn cached_grid<B: Backend>(
    matrix: &Tensor<B, 2>,
    grid: [usize; 2],
    compute: impl FnOnce() -> Tensor<B, 3>,
) -> Tensor<B, 3> {
    let Some(key) = with_f32_slice(matrix, |m| {
        m.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    }) else {
        return compute();
    };
    if let Ok(cache) = CACHE.lock() {
        let hit = cache
            .iter()
            .filter(|(k, g, _)| *k == key && *g == grid)
            .find_map(|(_, _, t)| t.downcast_ref::<Tensor<B, 3>>());
        if let Some(t) = hit {
            return t.clone();
        }
    }
    let t = compute();
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() == ENTRIES {
            cache.remove(0);
        }
        cache.push((key, grid, Box::new(t.clone())));
    }
    t
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    use super::*;

    type Cpu = NdArray<f32>;

    #[test]
    fn a_hit_needs_the_same_matrix_values_and_grid() {
        let d = Default::default();
        let m = Tensor::<Cpu, 2>::random([2, 3], Distribution::Normal(0.0, 1.0), &d);
        let value = |v: f32| Tensor::<Cpu, 3>::full([1, 1, 1], v, &d);
        let read = |t: Tensor<Cpu, 3>| -> f32 { t.into_scalar() };
        assert_eq!(read(cached_grid(&m, [3, 3], || value(1.0))), 1.0);
        assert_eq!(read(cached_grid(&m.clone(), [3, 3], || value(2.0))), 1.0);
        assert_eq!(read(cached_grid(&m, [4, 3], || value(3.0))), 3.0);
        let other = m.clone() + 1e-3;
        assert_eq!(read(cached_grid(&other, [3, 3], || value(4.0))), 4.0);
    }
}
