//! The maps of a prediction as the API returns them: `predict`'s PNGs (the same
//! [`render_maps`] images), the error map, raw floats, and the per-mask metrics.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use image::{GrayImage, ImageEncoder, Luma, RgbImage};
use uncertsam_metrics::{MaskInputs, mask_metrics};

use super::messages::{ApiError, PredictRequest, PredictResponse};
use crate::predict::{Prediction, render_maps};

/// PNG bytes of an 8-bit RGB or gray image.
fn encode<P>(image: &image::ImageBuffer<P, Vec<u8>>) -> Result<Vec<u8>, ApiError>
where
    P: image::PixelWithColorType + image::Pixel<Subpixel = u8>,
{
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(image.as_raw(), image.width(), image.height(), P::COLOR_TYPE)
        .map_err(|e| ApiError::internal(format!("encoding a PNG: {e}")))?;
    Ok(out)
}

/// PNG bytes of an RGB image.
pub fn png(image: &RgbImage) -> Result<Vec<u8>, ApiError> {
    encode(image)
}

/// Base64 of little-endian float32 values.
pub fn f32_base64(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode(bytes)
}

/// The response to `req` for prediction `p` on `image`, with metrics against `gt` if given;
/// `refined` names the refinement behind `p`, if any.
pub fn response(
    req: &PredictRequest,
    image: &RgbImage,
    p: &Prediction,
    gt: Option<&[bool]>,
    refined: Option<&str>,
) -> Result<PredictResponse, ApiError> {
    let (mask, heat, overlay) = render_maps(image, &p.logits, &p.uncertainty);
    let b64 = |bytes: Vec<u8>| STANDARD.encode(bytes);
    let pred: Vec<u8> = p.logits.iter().map(|&l| u8::from(l > 0.0)).collect();
    let (error_png, metrics) = match gt {
        Some(gt) => {
            let gt: Vec<u8> = gt.iter().map(|&g| u8::from(g)).collect();
            let error = GrayImage::from_fn(p.width, p.height, |x, y| {
                let i = (y * p.width + x) as usize;
                Luma([if pred[i] != gt[i] { 255 } else { 0 }])
            });
            let inputs = MaskInputs::new(
                &pred,
                &gt,
                &p.prob,
                &p.uncertainty,
                p.height as usize,
                p.width as usize,
            );
            let metrics =
                mask_metrics(&inputs).map_err(|e| ApiError::internal(format!("metrics: {e}")))?;
            let json = serde_json::to_value(metrics)
                .map_err(|e| ApiError::internal(format!("metrics: {e}")))?;
            (Some(b64(encode(&error)?)), Some(json))
        }
        None => (None, None),
    };
    Ok(PredictResponse {
        estimator: req.estimator_spec(),
        width: p.width,
        height: p.height,
        predicted_iou: p.iou.first().copied().unwrap_or(f32::NAN),
        uncertainty_max: p.uncertainty.iter().copied().fold(0.0, f32::max),
        mask_png: b64(encode(&mask)?),
        uncertainty_png: b64(encode(&heat)?),
        overlay_png: b64(encode(&overlay)?),
        error_png,
        metrics,
        logits_f32: req.raw.then(|| f32_base64(&p.logits)),
        uncertainty_f32: req.raw.then(|| f32_base64(&p.uncertainty)),
        refined: refined.map(str::to_string),
    })
}
