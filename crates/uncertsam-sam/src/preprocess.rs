//! Pre-processing of the official `SamPredictor`: `ResizeLongestSide` (PIL bilinear with
//! antialiasing, reproduced bit for bit), normalisation and zero padding, and the matching
//! transform of prompt coordinates.

use burn::prelude::*;
use image::RgbImage;

use crate::config::SamConfig;

/// `(h, w)` after scaling the longest side to `long` (`get_preprocess_shape`: round half up).
pub fn preprocess_shape(h: usize, w: usize, long: usize) -> [usize; 2] {
    let scale = long as f64 / h.max(w) as f64;
    let (nh, nw) = (h as f64 * scale, w as f64 * scale);
    [(nh + 0.5) as usize, (nw + 0.5) as usize]
}

/// Maps an `(x, y)` point of the original image into the resized image (`apply_coords`).
pub fn transform_point([x, y]: [f64; 2], [h, w]: [usize; 2], long: usize) -> [f32; 2] {
    let [nh, nw] = preprocess_shape(h, w, long);
    [
        (x * (nw as f64 / w as f64)) as f32,
        (y * (nh as f64 / h as f64)) as f32,
    ]
}

/// Maps an `x0, y0, x1, y1` box of the original image into the resized image (`apply_boxes`).
pub fn transform_box(b: [f64; 4], original_hw: [usize; 2], long: usize) -> [f32; 4] {
    let [x0, y0] = transform_point([b[0], b[1]], original_hw, long);
    let [x1, y1] = transform_point([b[2], b[3]], original_hw, long);
    [x0, y0, x1, y1]
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's `precompute_coeffs` for the bilinear filter: per output index, the first input
/// index, the number of taps, and fixed-point weights (`normalize_coeffs_8bpc`).
fn pil_coeffs(in_size: usize, out_size: usize) -> (Vec<(usize, usize)>, Vec<i32>, usize) {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // bilinear support 1.0
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut kk = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let count = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        k.iter_mut().for_each(|v| *v = 0.0);
        for (x, kx) in k.iter_mut().enumerate().take(count) {
            let t = ((x + xmin) as f64 - center + 0.5) * ss;
            let t = t.abs();
            let w = if t < 1.0 { 1.0 - t } else { 0.0 };
            *kx = w;
            ww += w;
        }
        for (x, &kx) in k.iter().enumerate() {
            let v = if ww != 0.0 && x < count { kx / ww } else { kx };
            let fixed = v * (1u32 << PRECISION_BITS) as f64;
            kk[xx * ksize + x] = if v < 0.0 {
                (-0.5 + fixed) as i32
            } else {
                (0.5 + fixed) as i32
            };
        }
        bounds.push((xmin, count));
    }
    (bounds, kk, ksize)
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes with Pillow's antialiased bilinear filter, exactly (`Image.resize(size, BILINEAR)`):
/// a horizontal pass into 8-bit rows, then a vertical pass, in 22-bit fixed point.
pub fn resize_pil_bilinear(img: &RgbImage, out_w: usize, out_h: usize) -> RgbImage {
    let (in_w, in_h) = (img.width() as usize, img.height() as usize);
    if (in_w, in_h) == (out_w, out_h) {
        return img.clone();
    }
    let src = img.as_raw();
    // Horizontal pass (Pillow skips it when the width is unchanged).
    let (tmp, tmp_w) = if out_w != in_w {
        let (bounds, kk, ksize) = pil_coeffs(in_w, out_w);
        let mut tmp = vec![0u8; in_h * out_w * 3];
        for y in 0..in_h {
            for (xx, &(xmin, count)) in bounds.iter().enumerate() {
                let k = &kk[xx * ksize..xx * ksize + count];
                for ch in 0..3 {
                    let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                    for (x, &kx) in k.iter().enumerate() {
                        ss += src[(y * in_w + xmin + x) * 3 + ch] as i32 * kx;
                    }
                    tmp[(y * out_w + xx) * 3 + ch] = clip8(ss);
                }
            }
        }
        (tmp, out_w)
    } else {
        (src.clone(), in_w)
    };
    let out = if out_h != in_h {
        let (bounds, kk, ksize) = pil_coeffs(in_h, out_h);
        let mut out = vec![0u8; out_h * tmp_w * 3];
        for (yy, &(ymin, count)) in bounds.iter().enumerate() {
            let k = &kk[yy * ksize..yy * ksize + count];
            for x in 0..tmp_w {
                for ch in 0..3 {
                    let mut ss: i32 = 1 << (PRECISION_BITS - 1);
                    for (y, &ky) in k.iter().enumerate() {
                        ss += tmp[((ymin + y) * tmp_w + x) * 3 + ch] as i32 * ky;
                    }
                    out[(yy * tmp_w + x) * 3 + ch] = clip8(ss);
                }
            }
        }
        out
    } else {
        tmp
    };
    RgbImage::from_raw(out_w as u32, out_h as u32, out)
        .expect("buffer size should match the output size")
}

/// `ResizeLongestSide.apply_image`: the longest side becomes `config.img_size`.
pub fn resize_longest_side(img: &RgbImage, long: usize) -> RgbImage {
    let [nh, nw] = preprocess_shape(img.height() as usize, img.width() as usize, long);
    resize_pil_bilinear(img, nw, nh)
}

/// Normalises a resized image with `pixel_mean` / `pixel_std` and zero-pads it to
/// `img_size x img_size` (`Sam.preprocess`).
///
/// # Shapes
/// -> `[1, 3, img_size, img_size]`
pub fn to_model_input<B: Backend>(
    resized: &RgbImage,
    c: &SamConfig,
    device: &B::Device,
) -> Tensor<B, 4> {
    let s = c.img_size;
    let mut data = vec![0f32; 3 * s * s];
    for (x, y, px) in resized.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        if x >= s || y >= s {
            continue;
        }
        for ch in 0..3 {
            data[ch * s * s + y * s + x] = (px[ch] as f32 - c.pixel_mean[ch]) / c.pixel_std[ch];
        }
    }
    Tensor::from_data(TensorData::new(data, [1, 3, s, s]), device)
}
