//! Softmax attention in cache-sized chunks on parallel threads (Hiera's windowed and global
//! attention).

use burn::prelude::*;

use crate::host::{matmul_batched, softmax_last};
use crate::parallel::{PAR_MIN_ELEMENTS, par_map, threads};

/// Fewest query rows of a row block, about: a block of more than 64 rows takes the same path
/// through the matrix product's kernel as the whole head (`host::product_into`), so splitting
/// the rows does not change them.
const MIN_CHUNK_ROWS: usize = 130;

/// Softmax attention `softmax((q kᵀ) scale) v` for each of `bh` heads (scaled after the product,
/// as in PyTorch's `scaled_dot_product_attention`, which SAM 2 calls), with the logits computed in
/// chunks of about `chunk_bytes` on parallel threads (several heads per chunk when they fit,
/// else one head and a block of query rows), so the `[bh, nq, nk]` logits are never held at
/// once and the single-threaded softmax passes run side by side. Each output row is computed
/// exactly as in the one-piece product.
///
/// # Shapes
/// - q: `[bh, nq, hd]`, kt: `[bh, hd, nk]` (keys transposed, contiguous), v: `[bh, nk, hd]`
///   -> `[bh, nq, hd]`
pub(crate) fn chunked_attention<B: Backend>(
    q: Tensor<B, 3>,
    kt: Tensor<B, 3>,
    v: Tensor<B, 3>,
    scale: f64,
    chunk_bytes: usize,
) -> Tensor<B, 3> {
    let [bh, nq, _] = q.dims();
    let nk = kt.dims()[2];
    let attend = |q: Tensor<B, 3>, kt: Tensor<B, 3>, v: Tensor<B, 3>| {
        matmul_batched(softmax_last(matmul_batched(q, kt), Some(scale)), v)
    };
    let per_head = nq * nk * 4;
    if bh * per_head <= PAR_MIN_ELEMENTS * 4 {
        return attend(q, kt, v);
    }
    let chunks: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = if per_head <= chunk_bytes {
        let g = (chunk_bytes / per_head).clamp(1, bh.div_ceil(threads()).max(1));
        (0..bh)
            .step_by(g)
            .map(|b0| (b0..(b0 + g).min(bh), 0..nq))
            .collect()
    } else {
        // Blocks of equal size (within one row), each above `MIN_CHUNK_ROWS / 2` rows.
        let rows = (chunk_bytes / (nk * 4)).max(MIN_CHUNK_ROWS);
        let blocks = nq.div_ceil(rows);
        (0..bh)
            .flat_map(|b| {
                (0..blocks).map(move |i| (b..b + 1, i * nq / blocks..(i + 1) * nq / blocks))
            })
            .collect()
    };
    let row_split = chunks.len() > 1 && chunks[0].1.len() < nq;
    let outs = par_map(chunks, |(bs, rs)| {
        attend(
            q.clone().slice([bs.clone(), rs]),
            kt.clone().slice([bs.clone()]),
            v.clone().slice([bs]),
        )
    });
    if !row_split {
        return Tensor::cat(outs, 0);
    }
    // Chunks are ordered by head, then by query rows: rejoin each head's rows, then the heads.
    let per = outs.len() / bh;
    let mut outs = outs.into_iter();
    let heads: Vec<Tensor<B, 3>> = (0..bh)
        .map(|_| Tensor::cat(outs.by_ref().take(per).collect(), 1))
        .collect();
    Tensor::cat(heads, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::Distribution;
    use burn::tensor::activation::softmax;

    type B = NdArray<f32>;

    #[test]
    fn chunked_attention_equals_the_one_piece_product_for_every_chunk_shape() {
        let device = Default::default();
        // 3 heads of 650 pooled queries over 700 keys: 5.5 MB of logits, above the one-piece
        // threshold, so every budget below takes the chunked path.
        let (bh, nq, nk, hd) = (3, 650, 700, 8);
        let normal = |dims: [usize; 3]| {
            Tensor::<B, 3>::random(dims, Distribution::Normal(0.0, 1.0), &device)
        };
        let (q, kt, v) = (
            normal([bh, nq, hd]),
            normal([bh, hd, nk]),
            normal([bh, nk, hd]),
        );
        let scale = (hd as f64).powf(-0.5);
        // The one-piece product, through the same product kernels.
        let whole = matmul_batched(
            softmax(matmul_batched(q.clone(), kt.clone()) * scale, 2),
            v.clone(),
        )
        .into_data();
        let per_head = nq * nk * 4;
        // Two heads per chunk, one head per chunk, blocks of 325 rows, the fewest rows (five
        // blocks of 130).
        for budget in [per_head * 2, per_head, 1 << 20, 1] {
            let chunked = chunked_attention(q.clone(), kt.clone(), v.clone(), scale, budget);
            assert_eq!(chunked.dims(), [bh, nq, hd]);
            assert_eq!(chunked.into_data(), whole, "budget {budget}");
        }
    }
}
