//! Runs independent pieces of a forward pass on scoped threads.
//!
//! The ndarray backend threads its matrix products but runs element-wise operations (softmax,
//! GELU, the relative-position add) on one core; chunks of attention and of MLP rows are
//! independent, so they run side by side. Each piece is computed exactly as it would be
//! alone, so results do not depend on the number of threads.

use burn::prelude::*;

/// Worker threads to use: the machine's available parallelism.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Maps `f` over `items` on up to [`threads`] scoped threads, keeping the order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let t = threads().min(items.len());
    if t <= 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(t);
    let mut groups: Vec<Vec<T>> = Vec::with_capacity(t);
    let mut items = items.into_iter();
    loop {
        let g: Vec<T> = items.by_ref().take(per).collect();
        if g.is_empty() {
            break;
        }
        groups.push(g);
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|g| s.spawn(move || g.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Applies an element-wise `f` to row blocks of a large `[rows, cols]` tensor in parallel.
pub(crate) fn par_rows<B: Backend>(
    x: Tensor<B, 2>,
    f: impl Fn(Tensor<B, 2>) -> Tensor<B, 2> + Sync,
) -> Tensor<B, 2> {
    let [rows, cols] = x.dims();
    let t = threads();
    if t <= 1 || rows < 2 * t || rows * cols < PAR_MIN_ELEMENTS {
        return f(x);
    }
    let per = rows.div_ceil(t);
    let pieces: Vec<Tensor<B, 2>> = (0..rows)
        .step_by(per)
        .map(|r| x.clone().narrow(0, r, per.min(rows - r)))
        .collect();
    Tensor::cat(par_map(pieces, f), 0)
}

/// Below this many elements, thread start-up costs more than it saves.
pub(crate) const PAR_MIN_ELEMENTS: usize = 1 << 20;
