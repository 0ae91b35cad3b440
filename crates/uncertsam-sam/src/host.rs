//! Fused element-wise kernels for the CPU backend: softmax, GELU, LayerNorm and a Linear
//! layer's bias add, each in one pass; reshapes without copies; and matrix products on the
//! tensors' own buffers, split by rows over threads.
//!
//! burn runs each of these as a chain of whole-tensor operations (a softmax is five, a
//! LayerNorm nine, a GELU five), each allocating its result (the bias add too), and
//! burn-ndarray runs most of them on one core. On the `NdArray<f32>` backend the functions here take the tensor's own
//! buffer (no copy when it is contiguous and not shared), run the whole chain row by row while
//! the row is in cache, on parallel threads for large tensors, and hand the buffer back. Every
//! element goes through the same f32 operations in the same order as burn's chain (sums in
//! ndarray's eight-way unrolled order, `erf` in f64 from `libm`), so the results are bitwise
//! those of the burn operations (tested below). Any other backend (autodiff for training,
//! CUDA), or a tensor that is not in standard layout, runs the burn operations.
//!
//! [`reshape`]: burn-ndarray 0.21 copies the whole tensor on every reshape (ndarray's
//! `to_shape` gives a borrowed view, which it turns into an owned array), and its `matmul`
//! reshapes both operands and the result; here a tensor in standard layout is reshaped in
//! place and a permuted one whose last axis is contiguous is copied a row at a time, where
//! ndarray copies element by element.
//!
//! [`matmul`]: matrixmultiply's own threading has one shared worker thread, which every
//! concurrent product (burn-ndarray's batched matmul runs its batches on rayon threads) asks
//! for half its work and then waits on, yielding in a loop; on two cores a one-box decode spent
//! about a quarter of its time there. With `MATMUL_NUM_THREADS=1` (the project's binaries set
//! it, `uncertsam_bench::alloc::one_thread_per_gemm`) every product runs on its caller's
//! thread, and the large 2-D products here split their rows over threads instead, in blocks
//! that compute every element as the one-piece product does (tested). The products themselves
//! run the `gemm` crate's kernel where it takes its packed path (see [`product_into`]: up to
//! `k = 256` bitwise matrixmultiply's, faster on products with few columns).

use std::any::{Any, TypeId};
use std::sync::OnceLock;

use burn::backend::NdArray;
use burn::nn::LayerNorm;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn_ndarray::NdArrayTensor;

use crate::parallel::{in_worker, threads, threads_for};

/// Whether `B` is the CPU backend these kernels work on (`NdArray<f32>`, not autodiff).
fn cpu_backend<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<NdArray<f32>>()
}

/// The buffer of a standard-layout `NdArray<f32>` tensor, or the tensor back when it is on
/// another backend, of another dtype or in another layout.
fn take_buffer<B: Backend, const D: usize>(x: Tensor<B, D>) -> Result<Vec<f32>, Tensor<B, D>> {
    if !cpu_backend::<B>() {
        return Err(x);
    }
    let standard = {
        let prim = x.clone().into_primitive().tensor();
        match (&prim as &dyn Any).downcast_ref::<NdArrayTensor>() {
            Some(NdArrayTensor::F32(s)) => s.view().is_standard_layout(),
            _ => false,
        }
    };
    if !standard {
        return Err(x);
    }
    let prim: Box<dyn Any> = Box::new(x.into_primitive().tensor());
    let Ok(nd) = prim.downcast::<NdArrayTensor>() else {
        unreachable!("B is NdArray<f32>, whose float primitive is NdArrayTensor")
    };
    let NdArrayTensor::F32(storage) = *nd else {
        unreachable!("checked above: an f32 tensor")
    };
    let array = storage.into_owned().into_owned();
    let n = array.len();
    let (mut v, offset) = array.into_raw_vec_and_offset();
    // A sliced array keeps its parent's buffer: its elements are the `n` from `offset`.
    v.drain(..offset.unwrap_or(0));
    v.truncate(n);
    Ok(v)
}

/// `f` of the values of a standard-layout `NdArray<f32>` tensor, read in place; `None` on
/// another backend, for another dtype or in another layout.
pub(crate) fn with_f32_slice<B: Backend, const D: usize, R>(
    x: &Tensor<B, D>,
    f: impl FnOnce(&[f32]) -> R,
) -> Option<R> {
    if !cpu_backend::<B>() {
        return None;
    }
    let prim = x.clone().into_primitive().tensor();
    match (&prim as &dyn Any).downcast_ref::<NdArrayTensor>() {
        Some(NdArrayTensor::F32(s)) => s.view().to_slice().map(f),
        _ => None,
    }
}

/// Wraps a buffer taken by [`take_buffer`] back into a tensor of `dims` (no copy).
pub(crate) fn give_buffer<B: Backend, const D: usize>(
    v: Vec<f32>,
    dims: [usize; D],
) -> Tensor<B, D> {
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), v)
        .expect("the buffer has the tensor's length")
        .into_shared();
    wrap(NdArrayTensor::from(array))
}

/// Applies `f` to every row of `len` values, on parallel threads when the buffer is large and
/// the caller is not already one of [`crate::parallel::par_map`]'s workers. Each row is
/// computed the same way whichever thread takes it.
fn for_rows(v: &mut [f32], len: usize, f: impl Fn(&mut [f32]) + Sync) {
    if len == 0 {
        return;
    }
    let rows = v.len() / len;
    let t = threads_for(v.len());
    if t <= 1 || rows < 2 * t {
        v.chunks_exact_mut(len).for_each(&f);
        return;
    }
    let per = rows.div_ceil(t) * len;
    let f = &f;
    std::thread::scope(|s| {
        for block in v.chunks_mut(per) {
            s.spawn(move || block.chunks_exact_mut(len).for_each(f));
        }
    });
}

/// `ndarray`'s sum of a contiguous slice (`numeric_util::unrolled_fold`: eight partial sums,
/// combined as `((p0 + p4) + (p1 + p5)) + ...`, then the tail), which burn-ndarray's
/// `sum_dim` / `mean_dim` over the last axis use.
fn unrolled_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut p = [0f32; 8];
    let mut blocks = xs.chunks_exact(8);
    for b in &mut blocks {
        for (pi, &x) in p.iter_mut().zip(b) {
            *pi += f(x);
        }
    }
    let mut acc = 0f32;
    for i in 0..4 {
        acc += p[i] + p[i + 4];
    }
    for &x in blocks.remainder() {
        acc += f(x);
    }
    acc
}

/// `y + bias` for `y: [rows, c]` and `bias: [c]` (burn's broadcast add), in `y`'s buffer.
pub(crate) fn add_row_bias<B: Backend>(y: Tensor<B, 2>, bias: Tensor<B, 1>) -> Tensor<B, 2> {
    let dims = y.dims();
    let b = match take_buffer(bias.clone()) {
        Ok(b) if b.len() == dims[1] => b,
        _ => return y + bias.unsqueeze(),
    };
    match take_buffer(y) {
        Ok(mut v) => {
            for_rows(&mut v, dims[1], |row| {
                row.iter_mut().zip(&b).for_each(|(x, b)| *x += b);
            });
            give_buffer(v, dims)
        }
        Err(y) => y + bias.unsqueeze(),
    }
}

/// `x.reshape(dims)` (burn's semantics: row-major order, same number of elements).
pub(crate) fn reshape<B: Backend, const D: usize, const D2: usize>(
    x: Tensor<B, D>,
    dims: [usize; D2],
) -> Tensor<B, D2> {
    if !cpu_backend::<B>() || x.shape().num_elements() != dims.iter().product::<usize>() {
        return x.reshape(dims);
    }
    let prim: Box<dyn Any> = Box::new(x.into_primitive().tensor());
    let Ok(nd) = prim.downcast::<NdArrayTensor>() else {
        unreachable!("B is NdArray<f32>, whose float primitive is NdArrayTensor")
    };
    let array = match *nd {
        NdArrayTensor::F32(s) if !s.is_borrowed() => s.into_shared(),
        other => return wrap::<B, D>(other).reshape(dims),
    };
    let array = if array.is_standard_layout() {
        array
    } else {
        match copy_rows(&array.view()) {
            Some(v) => ndarray::ArrayD::from_shape_vec(array.raw_dim(), v)
                .expect("one value per element")
                .into_shared(),
            None => return wrap::<B, D>(NdArrayTensor::from(array)).reshape(dims),
        }
    };
    let array = array
        .into_shape_with_order(ndarray::IxDyn(&dims))
        .expect("a standard-layout array of the same length");
    wrap(NdArrayTensor::from(array))
}

/// The values of `a` in row-major order, copied a last-axis row at a time; `None` when the
/// last axis is not contiguous.
fn copy_rows(a: &ndarray::ArrayViewD<'_, f32>) -> Option<Vec<f32>> {
    let last = ndarray::Axis(a.ndim().checked_sub(1)?);
    let mut out = Vec::with_capacity(a.len());
    for lane in a.lanes(last) {
        out.extend_from_slice(lane.to_slice()?);
    }
    Some(out)
}

/// A tensor of `B` (which is `NdArray<f32>`) from its primitive.
fn wrap<B: Backend, const D: usize>(t: NdArrayTensor) -> Tensor<B, D> {
    let prim: Box<dyn Any> = Box::new(t);
    let Ok(prim) = prim.downcast::<B::FloatTensorPrimitive>() else {
        unreachable!("only called when B is NdArray<f32>")
    };
    Tensor::from_primitive(TensorPrimitive::Float(*prim))
}

/// Method-call form of [`reshape`], so chains read as burn's do.
pub(crate) trait HostReshape<B: Backend> {
    /// [`reshape`] of `self`.
    fn host_reshape<const D2: usize>(self, dims: [usize; D2]) -> Tensor<B, D2>;
}

impl<B: Backend, const D: usize> HostReshape<B> for Tensor<B, D> {
    fn host_reshape<const D2: usize>(self, dims: [usize; D2]) -> Tensor<B, D2> {
        reshape(self, dims)
    }
}

/// Whether [`matmul`] may split products: only when matrixmultiply runs each product on one
/// thread (`MATMUL_NUM_THREADS=1`), else every row block would queue for its one worker.
fn split_products() -> bool {
    static SPLIT: OnceLock<bool> = OnceLock::new();
    *SPLIT.get_or_init(|| std::env::var("MATMUL_NUM_THREADS").is_ok_and(|v| v.trim() == "1"))
}

/// Below this many multiply-adds (about 50 µs on one core) a product is not split.
const SPLIT_MIN_MACS: usize = 1 << 22;

/// `a.matmul(b)` for `a: [m, k]`, `b: [k, n]`. On the CPU backend: matrixmultiply on the
/// operands' own buffers (whatever their strides) into a fresh one, without burn-ndarray's
/// copies; with single-threaded matrixmultiply, large products as row blocks of `a` on
/// parallel threads.
pub(crate) fn matmul<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    let ([m, k], n) = (a.dims(), b.dims()[1]);
    if !cpu_backend::<B>() || k != b.dims()[0] {
        return a.matmul(b);
    }
    let split = split_products()
        && !in_worker()
        && m >= MIN_BLOCK_ROWS * threads()
        && m * k * n >= SPLIT_MIN_MACS;
    let t = if split { threads() } else { 1 };
    let (pa, pb) = (a.into_primitive().tensor(), b.into_primitive().tensor());
    let views = match (
        (&pa as &dyn Any).downcast_ref::<NdArrayTensor>(),
        (&pb as &dyn Any).downcast_ref::<NdArrayTensor>(),
    ) {
        (Some(NdArrayTensor::F32(sa)), Some(NdArrayTensor::F32(sb))) => sa
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .ok()
            .zip(sb.view().into_dimensionality::<ndarray::Ix2>().ok()),
        _ => None,
    };
    let Some((av, bv)) = views else {
        let tensor = |p| Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(p));
        return tensor(pa).matmul(tensor(pb));
    };
    let mut out = vec![0f32; m * n];
    product_by_rows(av, bv, &mut out, t);
    give_buffer(out, [m, n])
}

/// `a.matmul(b)` for batched operands `[..., m, k]` and `[..., k, n]` whose leading axes are
/// equal or 1 (broadcast), as burn's; on the CPU backend, matrixmultiply per batch on the
/// operands' own buffers (no copies), batches on parallel threads for large products.
pub(crate) fn matmul_batched<B: Backend, const D: usize>(
    a: Tensor<B, D>,
    b: Tensor<B, D>,
) -> Tensor<B, D> {
    let (da, db) = (a.dims(), b.dims());
    let lead_ok = (0..D - 2).all(|i| da[i] == db[i] || da[i] == 1 || db[i] == 1);
    if !cpu_backend::<B>() || D < 3 || !lead_ok || da[D - 1] != db[D - 2] {
        return a.matmul(b);
    }
    let (m, k, n) = (da[D - 2], da[D - 1], db[D - 1]);
    let mut dims = da;
    for i in 0..D - 2 {
        dims[i] = da[i].max(db[i]);
    }
    dims[D - 1] = n;
    let batches: usize = dims[..D - 2].iter().product();
    let (pa, pb) = (a.into_primitive().tensor(), b.into_primitive().tensor());
    let views = match (
        (&pa as &dyn Any).downcast_ref::<NdArrayTensor>(),
        (&pb as &dyn Any).downcast_ref::<NdArrayTensor>(),
    ) {
        (Some(NdArrayTensor::F32(sa)), Some(NdArrayTensor::F32(sb))) => {
            Some((sa.view(), sb.view()))
        }
        _ => None,
    };
    let Some((av, bv)) = views else {
        return wrap::<B, D>(
            *Box::<dyn Any>::downcast::<NdArrayTensor>(Box::new(pa)).expect("NdArray"),
        )
        .matmul(wrap(
            *Box::<dyn Any>::downcast::<NdArrayTensor>(Box::new(pb)).expect("NdArray"),
        ));
    };
    let mut out = vec![0f32; batches * m * n];
    let run = |first: usize, block: &mut [f32]| {
        for (j, c) in block.chunks_mut((m * n).max(1)).enumerate() {
            let (x, y) = (
                batch_matrix(&av, first + j, &dims),
                batch_matrix(&bv, first + j, &dims),
            );
            product_into(x, y, c);
        }
    };
    let t = threads().min(batches);
    if t <= 1 || in_worker() || batches * m * k * n < SPLIT_MIN_MACS || m * n == 0 {
        run(0, &mut out);
    } else {
        let per = batches.div_ceil(t);
        let run = &run;
        std::thread::scope(|s| {
            for (i, block) in out.chunks_mut(per * m * n).enumerate() {
                s.spawn(move || run(i * per, block));
            }
        });
    }
    give_buffer(out, dims)
}

/// The 2-D view of batch `i` (row-major over `dims`' leading axes) of one operand of
/// [`matmul_batched`], whose leading axes are `dims`' or 1.
fn batch_matrix<'a, const D: usize>(
    v: &ndarray::ArrayViewD<'a, f32>,
    i: usize,
    dims: &[usize; D],
) -> ndarray::ArrayView2<'a, f32> {
    let mut index = [0usize; D];
    let mut rest = i;
    for d in (0..D - 2).rev() {
        index[d] = rest % dims[d];
        rest /= dims[d];
    }
    let mut v = v.clone();
    for &at in &index[..D - 2] {
        let at = if v.shape()[0] == 1 { 0 } else { at };
        v = v.index_axis_move(ndarray::Axis(0), at);
    }
    v.into_dimensionality::<ndarray::Ix2>()
        .expect("two axes left")
}

/// `out = a · b` for `a: [m, k]`, `b: [k, n]` (any non-negative strides) and `out` row-major
/// `[m, n]`.
///
/// A product with at least two rows and columns, more than 256 outputs and `k >= 3` runs the
/// `gemm` crate's packed kernel (AVX-512 where the CPU has it): on this project's machine it
/// runs at 95-110 GFLOP/s per core on every encoder shape, where matrixmultiply drops to
/// 45-75 on products with few columns (attention's `softmax · v`, an MLP's second layer,
/// TinyViT's 49-token windows). Every element is a chain of fused multiply-adds over `k`, in
/// blocks of `k`; up to `k = 256` the result is bitwise matrixmultiply's. Smaller or degenerate products, where `gemm` takes its matrix-vector or
/// dot-product paths (a different order), run through matrixmultiply as before.
///
/// (`gemm` takes `k` blocks of up to 512 when both sides of the output are at most 64, else
/// blocks from `k` and the cache sizes; [`product_by_rows`] keeps its row blocks above that.)
#[allow(unsafe_code)]
fn product_into(a: ndarray::ArrayView2<'_, f32>, b: ndarray::ArrayView2<'_, f32>, out: &mut [f32]) {
    let ((m, k), n) = (a.dim(), b.ncols());
    assert!(b.nrows() == k && out.len() == m * n, "product shapes");
    let strides = [a.strides(), b.strides()].concat();
    if m < 2 || n < 2 || k < 3 || m * n <= 256 || strides.iter().any(|&s| s < 0) {
        let mut c = ndarray::ArrayViewMut2::from_shape((m, n), out).expect("checked above");
        ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
        return;
    }
    // SAFETY: `a` and `b` are live views, so every element at `i * rs + j * cs` for `i`, `j`
    // within their shapes is readable; `out` is a unique slice of `m * n` values, written at
    // `i * n + j` for `i < m`, `j < n` and never read (`read_dst` false); the three regions
    // cannot overlap as `out` is borrowed mutably. gemm only reads `a` and `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            strides[1],
            strides[0],
            b.as_ptr(),
            strides[3],
            strides[2],
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Rows a block of [`product_by_rows`] keeps at least (about): above 256, a block takes the same
/// kernel path in [`product_into`] as the whole product.
const MIN_BLOCK_ROWS: usize = 320;

/// `out = a · b` (`out` row-major `[m, n]`), as up to `t` blocks of `a`'s rows on scoped
/// threads, each block more than 256 rows, so that each element is computed as in the
/// one-piece product.
fn product_by_rows(
    a: ndarray::ArrayView2<'_, f32>,
    b: ndarray::ArrayView2<'_, f32>,
    out: &mut [f32],
    t: usize,
) {
    let (m, n) = (a.nrows(), b.ncols());
    let t = t.min(m / MIN_BLOCK_ROWS);
    if t <= 1 {
        product_into(a, b, out);
        return;
    }
    let per = m.div_ceil(t);
    std::thread::scope(|s| {
        for (i, block) in out.chunks_mut(per * n).enumerate() {
            let rows = block.len() / n;
            let a = a.slice(ndarray::s![i * per..i * per + rows, ..]);
            let b = b.view();
            s.spawn(move || product_into(a, b, block));
        }
    });
}

/// `softmax(x * scale, last axis)` (burn's `softmax`, after `x * scale` when `scale` is given).
pub(crate) fn softmax_last<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    scale: Option<f64>,
) -> Tensor<B, D> {
    let dims = x.dims();
    match take_buffer(x) {
        Ok(mut v) => {
            let s = scale.map(|s| s as f32);
            for_rows(&mut v, dims[D - 1], |row| {
                if let Some(s) = s {
                    row.iter_mut().for_each(|x| *x *= s);
                }
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.iter_mut().for_each(|x| *x = (*x - max).exp());
                let sum = unrolled_sum(row, |x| x);
                row.iter_mut().for_each(|x| *x /= sum);
            });
            give_buffer(v, dims)
        }
        Err(x) => {
            let x = match scale {
                Some(s) => x * s,
                None => x,
            };
            burn::tensor::activation::softmax(x, D - 1)
        }
    }
}

/// GELU in its erf form (burn's `gelu`: `x (1 + erf(x / sqrt 2)) / 2`, `erf` in f64).
pub(crate) fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    match take_buffer(x) {
        Ok(mut v) => {
            let sqrt2 = std::f64::consts::SQRT_2 as f32;
            for_rows(&mut v, dims[D - 1], |row| {
                for x in row.iter_mut() {
                    let e = libm::erf((*x / sqrt2) as f64) as f32;
                    *x = (*x * (e + 1.0)) / 2.0;
                }
            });
            give_buffer(v, dims)
        }
        Err(x) => burn::tensor::activation::gelu(x),
    }
}

/// `norm.forward(x)` (burn's `layer_norm` over the last axis), where `eps` is the epsilon
/// `norm` was configured with (burn keeps it private).
pub(crate) fn layer_norm<B: Backend, const D: usize>(
    norm: &LayerNorm<B>,
    x: Tensor<B, D>,
    eps: f64,
) -> Tensor<B, D> {
    if !cpu_backend::<B>() {
        // Before reading the weights back: on CUDA that is a device round trip per call.
        return norm.forward(x);
    }
    let dims = x.dims();
    let c = dims[D - 1];
    let vec1 = |t: Tensor<B, 1>| -> Option<Vec<f32>> { t.into_data().into_vec::<f32>().ok() };
    let gamma = vec1(norm.gamma.val());
    let beta = match &norm.beta {
        Some(b) => vec1(b.val()).map(Some),
        None => Some(None),
    };
    let (Some(gamma), Some(beta)) = (gamma, beta) else {
        return norm.forward(x);
    };
    match take_buffer(x) {
        Ok(mut v) => {
            let (n, eps) = (c as f32, eps as f32);
            for_rows(&mut v, c, |row| {
                let mean = unrolled_sum(row, |x| x) / n;
                row.iter_mut().for_each(|x| *x -= mean);
                let var = unrolled_sum(row, |x| x * x) / n;
                let denom = (var + eps).sqrt();
                for (i, x) in row.iter_mut().enumerate() {
                    let y = (*x / denom) * gamma[i];
                    *x = match &beta {
                        Some(b) => y + b[i],
                        None => y,
                    };
                }
            });
            give_buffer(v, dims)
        }
        Err(x) => norm.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LayerNormConfig;
    use burn::tensor::Distribution;

    type B = NdArray<f32>;

    fn random(dims: [usize; 3], std: f64) -> Tensor<B, 3> {
        Tensor::random(dims, Distribution::Normal(0.5, std), &Default::default())
    }

    fn bits<const D: usize>(t: Tensor<B, D>) -> Vec<u32> {
        let v: Vec<f32> = t.into_data().into_vec().expect("f32");
        v.into_iter().map(f32::to_bits).collect()
    }

    // Row lengths around the eight-way unrolling (1, 7, 8, 9, 64 + 5), large enough tensors
    // for the threaded path, and a permuted (non-standard) input that must fall back.
    const SHAPES: [[usize; 3]; 6] = [
        [3, 5, 1],
        [2, 4, 7],
        [2, 3, 8],
        [4, 6, 9],
        [8, 700, 69],
        [2, 1024, 512],
    ];

    #[test]
    fn softmax_is_bitwise_burns_chain() {
        for dims in SHAPES {
            for std in [1.0, 30.0] {
                let x = random(dims, std);
                let burn = burn::tensor::activation::softmax(x.clone() * 0.125, 2);
                assert_eq!(
                    bits(softmax_last(x.clone(), Some(0.125))),
                    bits(burn),
                    "{dims:?}"
                );
                let burn = burn::tensor::activation::softmax(x.clone(), 2);
                assert_eq!(bits(softmax_last(x, None)), bits(burn), "{dims:?}");
            }
        }
        let x = random([5, 9, 70], 3.0).swap_dims(1, 2);
        let burn = burn::tensor::activation::softmax(x.clone(), 2);
        assert_eq!(bits(softmax_last(x, None)), bits(burn));
    }

    #[test]
    fn gelu_is_bitwise_burns_chain() {
        for dims in SHAPES {
            let x = random(dims, 3.0);
            let burn = burn::tensor::activation::gelu(x.clone());
            assert_eq!(bits(gelu(x)), bits(burn), "{dims:?}");
        }
    }

    #[test]
    fn layer_norm_is_bitwise_burns_chain() {
        let device = Default::default();
        for dims in SHAPES {
            let c = dims[2];
            for (eps, bias) in [(1e-6, true), (1e-5, false)] {
                let mut norm = LayerNormConfig::new(c)
                    .with_epsilon(eps)
                    .with_bias(bias)
                    .init::<B>(&device);
                norm.gamma = norm
                    .gamma
                    .map(|_| Tensor::random([c], Distribution::Normal(1.0, 0.5), &device));
                norm.beta = norm.beta.map(|b| {
                    b.map(|_| Tensor::random([c], Distribution::Normal(0.0, 0.5), &device))
                });
                let x = random(dims, 2.0);
                let burn = norm.forward(x.clone());
                assert_eq!(bits(layer_norm(&norm, x, eps)), bits(burn), "{dims:?}");
            }
        }
    }

    #[test]
    fn row_bias_is_bitwise_burns_broadcast_add() {
        for [a, b, c] in SHAPES {
            let y = random([a, b, c], 3.0).reshape([a * b, c]);
            let bias = Tensor::random([c], Distribution::Normal(0.0, 2.0), &Default::default());
            let burn = y.clone() + bias.clone().unsqueeze();
            assert_eq!(bits(add_row_bias(y, bias)), bits(burn), "{a} {b} {c}");
        }
    }

    /// A standard-layout `[r, c]` array of normal values.
    fn normal_array(r: usize, c: usize) -> ndarray::Array2<f32> {
        let t = Tensor::<B, 2>::random([r, c], Distribution::Normal(0.0, 1.0), &Default::default());
        let v: Vec<f32> = t.into_data().into_vec().expect("f32");
        ndarray::Array2::from_shape_vec((r, c), v).expect("shape")
    }

    fn one_piece(a: ndarray::ArrayView2<'_, f32>, b: ndarray::ArrayView2<'_, f32>) -> Vec<u32> {
        let mut out = vec![0f32; a.nrows() * b.ncols()];
        product_into(a, b, &mut out);
        out.into_iter().map(f32::to_bits).collect()
    }

    #[test]
    fn a_product_split_by_rows_is_bitwise_the_one_piece_product() {
        // Uneven blocks, a transposed right factor (a strided view), rows too few to split,
        // `k` within one kernel block and across several.
        for (m, k, n, t, transposed) in [
            (1000, 96, 288, 2, false),
            (1001, 256, 128, 3, true),
            (3, 64, 4096, 4, false),
            (1300, 768, 200, 2, false),
            (997, 4096, 48, 3, true),
            (650, 1536, 3, 2, false),
            (700, 300, 1, 2, false),
        ] {
            let a = normal_array(m, k);
            let b = if transposed {
                // Keep the right factor strided, as a transposed weight is.
                normal_array(n, k).reversed_axes()
            } else {
                normal_array(k, n)
            };
            let whole = one_piece(a.view(), b.view());
            let mut out = vec![0f32; m * n];
            product_by_rows(a.view(), b.view(), &mut out, t);
            let split: Vec<u32> = out.into_iter().map(f32::to_bits).collect();
            assert_eq!(split, whole, "{m}x{k}x{n} in {t} blocks");
        }
    }

    #[test]
    fn a_product_is_within_the_rounding_bound_of_a_double_precision_product() {
        // |c - c64| <= gamma_k sum |a||b| < (k + 1) u sum |a||b| (u = 2^-24) holds for any
        // order of the sums; the cases take each of product_into's paths (gemm's kernel,
        // matrixmultiply for the small and degenerate ones).
        for (m, k, n) in [
            (64, 4096, 48),
            (300, 768, 300),
            (5, 3, 5),
            (1, 700, 9),
            (40, 2, 40),
        ] {
            let (a, b) = (normal_array(m, k), normal_array(k, n));
            let mut out = vec![0f32; m * n];
            product_into(a.view(), b.view(), &mut out);
            for i in 0..m {
                for j in 0..n {
                    let (exact, abs) = (0..k).fold((0f64, 0f64), |(s, t), l| {
                        let p = f64::from(a[[i, l]]) * f64::from(b[[l, j]]);
                        (s + p, t + p.abs())
                    });
                    let bound = (k + 1) as f64 * f64::from(f32::EPSILON) / 2.0 * abs;
                    let err = (f64::from(out[i * n + j]) - exact).abs();
                    assert!(err <= bound, "{m}x{k}x{n} [{i}, {j}]: {err:e} > {bound:e}");
                }
            }
        }
    }

    #[test]
    fn up_to_k_256_a_product_is_bitwise_matrixmultiplys() {
        // What keeps every product of the tiny models (and so docs/results.md) as it was
        // before gemm: within one kernel block both crates chain fused multiply-adds over k.
        for (m, k, n) in [
            (1000, 96, 288),
            (300, 256, 97),
            (49, 32, 49),
            (4096, 48, 64),
        ] {
            let (a, b) = (normal_array(m, k), normal_array(k, n));
            let mut c = ndarray::Array2::<f32>::zeros((m, n));
            ndarray::linalg::general_mat_mul(1.0, &a, &b, 0.0, &mut c);
            let mm: Vec<u32> = c.iter().map(|v| v.to_bits()).collect();
            assert_eq!(one_piece(a.view(), b.view()), mm, "{m}x{k}x{n}");
        }
    }

    #[test]
    fn a_batched_product_is_each_batchs_product_with_broadcast_and_strided_operands() {
        let device = Default::default();
        let normal = |dims: [usize; 4]| {
            Tensor::<B, 4>::random(dims, Distribution::Normal(0.0, 1.0), &device)
        };
        // Equal batches (threaded: above the split size), a broadcast side, a transposed
        // right factor (keys), a narrowed left one, `k` across kernel blocks.
        let cases: Vec<(Tensor<B, 4>, Tensor<B, 4>)> = vec![
            (normal([2, 8, 300, 64]), normal([2, 8, 64, 300])),
            (normal([1, 8, 7, 16]), normal([5, 8, 16, 4096 / 8])),
            (
                normal([3, 2, 9, 16]),
                normal([3, 2, 33, 16]).swap_dims(2, 3),
            ),
            (
                normal([3, 2, 9, 20]).narrow(3, 2, 16),
                normal([1, 2, 16, 5]),
            ),
            (normal([1, 3, 40, 1000]), normal([2, 3, 1000, 30])),
        ];
        let host = |x: Tensor<B, 2>| {
            let [r, c] = x.dims();
            let v: Vec<f32> = x.into_data().into_vec().expect("f32");
            ndarray::Array2::from_shape_vec((r, c), v).expect("shape")
        };
        for (a, b) in cases {
            let (da, db) = (a.dims(), b.dims());
            let product = bits(matmul_batched(a.clone(), b.clone()));
            let mut expected = Vec::new();
            for i in 0..da[0].max(db[0]) {
                for j in 0..da[1].max(db[1]) {
                    let pick = |x: &Tensor<B, 4>, d: [usize; 4]| {
                        let (i, j) = (i.min(d[0] - 1), j.min(d[1] - 1));
                        host(x.clone().slice([i..i + 1, j..j + 1]).reshape([d[2], d[3]]))
                    };
                    expected.extend(one_piece(pick(&a, da).view(), pick(&b, db).view()));
                }
            }
            assert_eq!(product, expected, "{da:?} x {db:?}");
        }
    }

    #[test]
    fn reshape_is_burns_reshape_for_standard_permuted_and_strided_tensors() {
        let x = random([4, 6, 10], 1.0);
        let cases: Vec<Tensor<B, 3>> = vec![
            x.clone(),
            x.clone().swap_dims(0, 1),
            x.clone().permute([1, 0, 2]).narrow(0, 1, 4),
            x.clone().swap_dims(1, 2),
            x.clone().narrow(1, 2, 3),
        ];
        for c in cases {
            let [a, b, d] = c.dims();
            let burn = c.clone().reshape([a * b, d]);
            assert_eq!(bits(reshape(c.clone(), [a * b, d])), bits(burn));
            let burn = c.clone().reshape([a, b * d]);
            assert_eq!(bits(reshape(c.clone(), [a, b * d])), bits(burn));
            // The source is unchanged and still usable.
            assert_eq!(
                bits(c.clone().host_reshape([a * b * d])),
                bits(c.reshape([a * b * d]))
            );
        }
    }

    #[test]
    fn the_cpu_backend_takes_the_fused_path_and_a_permuted_tensor_falls_back() {
        assert!(take_buffer(random([2, 3, 16], 1.0)).is_ok());
        assert!(take_buffer(random([2, 3, 16], 1.0).swap_dims(1, 2)).is_err());
        let autodiff = Tensor::<burn::backend::Autodiff<B>, 1>::ones([4], &Default::default());
        assert!(take_buffer(autodiff).is_err());
    }

    #[test]
    fn a_shared_buffer_is_left_untouched() {
        let x = random([2, 3, 16], 1.0);
        let before = bits(x.clone());
        let _ = gelu(x.clone());
        assert_eq!(bits(x), before);
    }
}
