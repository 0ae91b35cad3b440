//! What last-layer Laplace reads from a decoder pass, for fitting and for prediction: the
//! last layer's inputs per mask (`h`, `E`) on the host, and the ground truth on the
//! decoder's low-resolution grid. Depends on neither the fit (`laplace.rs`) nor the
//! predictive (`laplace_predict.rs`), which both read it.

use burn::prelude::*;
use uncertsam_laplace::LayerShape;
use uncertsam_sam::DecoderOutput;

use crate::EstimateError;
use crate::estimator::FitSample;

/// Copies a tensor to the host as f32 ([`uncertsam_sam::frame::to_host`]).
pub(crate) fn host<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    what: &str,
) -> Result<Vec<f32>, EstimateError> {
    Ok(uncertsam_sam::frame::to_host(t, what)?)
}

/// The last layer's per-mask inputs of one pass: `h` (`rows x D`) and `E` (`rows x K x N_pix`).
pub(crate) struct Features {
    /// Number of prompt rows.
    pub rows: usize,
    /// Low-resolution side `[4E_h, 4E_w]`.
    pub side: [usize; 2],
    hs: Vec<f32>,
    es: Vec<f32>,
    d: usize,
    per_row: usize,
}

impl Features {
    /// Reads `token0_hidden` and `upscaled_embedding` of a pass, checked against `shape`.
    pub fn of<B: Backend>(
        out: &DecoderOutput<B>,
        shape: LayerShape,
    ) -> Result<Self, EstimateError> {
        let [rows, d] = out.token0_hidden.dims();
        let [_, k, h, w] = out.upscaled_embedding.dims();
        if d != shape.d || k != shape.k {
            return Err(EstimateError::Input(format!(
                "the decoder's last layer is D x K = {d} x {k}, the posterior's {} x {}",
                shape.d, shape.k
            )));
        }
        Ok(Self {
            rows,
            side: [h, w],
            hs: host(out.token0_hidden.clone(), "token0_hidden")?,
            es: host(out.upscaled_embedding.clone(), "upscaled_embedding")?,
            d,
            per_row: k * h * w,
        })
    }

    /// `h` of row `i` (length D).
    pub fn h(&self, i: usize) -> &[f32] {
        &self.hs[i * self.d..(i + 1) * self.d]
    }

    /// `E` of row `i` (row-major `K x N_pix`).
    pub fn e(&self, i: usize) -> &[f32] {
        &self.es[i * self.per_row..(i + 1) * self.per_row]
    }
}

/// The ground truth of `sample` on the decoder's low-resolution grid `side`, one vector per
/// mask: each low-res pixel reads the original pixel under its centre (through the
/// longest-side resize and the padding; 0 in the padding).
pub(crate) fn low_res_targets<B: Backend>(
    img_size: usize,
    sample: &FitSample<B>,
    [lh, lw]: [usize; 2],
) -> Result<Vec<Vec<f32>>, String> {
    let emb = &sample.image.embedding;
    let [b, gh, gw] = sample.gt.dims();
    let [oh, ow] = emb.original_size;
    if [gh, gw] != [oh, ow] {
        return Err(format!(
            "ground truth is [{b}, {gh}, {gw}], the image is {oh} x {ow}"
        ));
    }
    let gt = host(sample.gt.clone(), "ground truth").map_err(|e| e.to_string())?;
    Ok((0..b)
        .map(|m| {
            let mask = &gt[m * oh * ow..(m + 1) * oh * ow];
            let at = |i: usize| mask.get(i).is_some_and(|&v| v > 0.5);
            uncertsam_sam::frame::gt_on_low_res(at, [oh, ow], emb.input_size, img_size, [lh, lw])
                .into_iter()
                .map(f32::from)
                .collect()
        })
        .collect())
}
