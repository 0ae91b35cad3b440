//! The pre-processing of `SAM2ImagePredictor` (`sam2/utils/transforms.py` `SAM2Transforms`):
//! `ToTensor`, torchvision `Resize((S, S))` (bilinear, antialiased, no aspect preservation),
//! ImageNet normalisation; and the coordinate transform of `transform_coords` (normalise by
//! the original size, scale to S).

use burn::prelude::*;
use image::RgbImage;
use uncertsam_resample::antialias_taps;

/// ImageNet mean of `SAM2Transforms`, on `[0, 1]` pixels.
pub const PIXEL_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet standard deviation of `SAM2Transforms`.
pub const PIXEL_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// `SAM2Transforms` on an RGB image: `[3, S, S]` channel-major values, resized from `[0, 1]`
/// pixels (width first, then height, as PyTorch's separable kernel) and normalised.
pub fn sam2_input_values(image: &RgbImage, size: usize) -> Vec<f32> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let raw = image.as_raw();
    let (tx, ty) = (antialias_taps(w, size), antialias_taps(h, size));
    let mut out = vec![0f32; 3 * size * size];
    let mut row = vec![0f32; h * size]; // one channel resized along the width
    for c in 0..3 {
        for y in 0..h {
            for (o, (x0, ws)) in tx.iter().enumerate() {
                let mut acc = 0f32;
                for (j, wt) in ws.iter().enumerate() {
                    acc += raw[(y * w + x0 + j) * 3 + c] as f32 / 255.0 * wt;
                }
                row[y * size + o] = acc;
            }
        }
        let plane = &mut out[c * size * size..(c + 1) * size * size];
        for (o, (y0, ws)) in ty.iter().enumerate() {
            for x in 0..size {
                let mut acc = 0f32;
                for (j, wt) in ws.iter().enumerate() {
                    acc += row[(y0 + j) * size + x] * wt;
                }
                plane[o * size + x] = (acc - PIXEL_MEAN[c]) / PIXEL_STD[c];
            }
        }
    }
    out
}

/// `SAM2Transforms` on an RGB image as a model input `[1, 3, S, S]`.
pub fn sam2_model_input<B: Backend>(
    image: &RgbImage,
    size: usize,
    device: &B::Device,
) -> Tensor<B, 4> {
    let v = sam2_input_values(image, size);
    Tensor::from_data(TensorData::new(v, [1, 3, size, size]), device)
}

/// `transform_coords(normalize=True)`: an original-image `(x, y)` point in model-input
/// coordinates, `x / w * S`, `y / h * S` (f32, as the official tensors).
pub fn sam2_transform_point([x, y]: [f64; 2], [h, w]: [usize; 2], size: usize) -> [f32; 2] {
    [
        x as f32 / w as f32 * size as f32,
        y as f32 / h as f32 * size as f32,
    ]
}
