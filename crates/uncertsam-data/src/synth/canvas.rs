//! `Canvas`: a floating-point RGB image with the few compositing operations the generator uses.

use image::RgbImage;

use super::texture::{Rgb, Texture, mix};
use crate::mask::Mask;

/// A row-major RGB image with channels in [0, 1] (values above 1 saturate on output).
#[derive(Clone, Debug)]
pub struct Canvas {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Row-major pixels.
    pub px: Vec<Rgb>,
}

impl Canvas {
    /// A canvas filled with a texture sampled at pixel centres.
    pub fn from_texture(height: usize, width: usize, texture: &Texture) -> Self {
        let mut px = Vec::with_capacity(height * width);
        for y in 0..height {
            for x in 0..width {
                px.push(texture.at(x as f32 + 0.5, y as f32 + 0.5));
            }
        }
        Self { height, width, px }
    }

    /// The pixel at `(x, y)`, clamped to the canvas.
    pub fn at_clamped(&self, x: f32, y: f32) -> Rgb {
        let xi = (x.max(0.0) as usize).min(self.width - 1);
        let yi = (y.max(0.0) as usize).min(self.height - 1);
        self.px[yi * self.width + xi]
    }

    /// Replaces each pixel where `alpha > 0` by `mix(old, colour(x, y, old), alpha)`.
    pub fn blend(&mut self, alpha: &[f32], mut colour: impl FnMut(usize, usize, Rgb) -> Rgb) {
        for y in 0..self.height {
            for x in 0..self.width {
                let i = y * self.width + x;
                if alpha[i] > 0.0 {
                    let old = self.px[i];
                    self.px[i] = mix(old, colour(x, y, old), alpha[i].min(1.0));
                }
            }
        }
    }

    /// Quantises to 8-bit RGB.
    pub fn to_image(&self) -> RgbImage {
        let mut raw = Vec::with_capacity(self.px.len() * 3);
        for p in &self.px {
            for c in p {
                // Round half up; the value is non-negative, so this avoids a libm call.
                raw.push((c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
            }
        }
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .unwrap_or_else(|| RgbImage::new(self.width as u32, self.height as u32))
    }
}

/// A mask as 0/1 floats.
pub fn alpha_of(mask: &Mask) -> Vec<f32> {
    mask.data().iter().map(|&v| f32::from(v)).collect()
}

/// A separable box blur of radius `r`, repeated `passes` times (close to a Gaussian).
pub fn box_blur(values: &mut [f32], height: usize, width: usize, r: usize, passes: usize) {
    let mut tmp = vec![0f32; values.len()];
    for _ in 0..passes {
        for y in 0..height {
            for x in 0..width {
                let (lo, hi) = (x.saturating_sub(r), (x + r).min(width - 1));
                let s: f32 = values[y * width + lo..=y * width + hi].iter().sum();
                tmp[y * width + x] = s / (hi - lo + 1) as f32;
            }
        }
        for y in 0..height {
            let (lo, hi) = (y.saturating_sub(r), (y + r).min(height - 1));
            for x in 0..width {
                let s: f32 = (lo..=hi).map(|yy| tmp[yy * width + x]).sum();
                values[y * width + x] = s / (hi - lo + 1) as f32;
            }
        }
    }
}

/// Pixels of `mask` within `r` pixels (Chebyshev) of the background: the object's rim.
pub fn rim(mask: &Mask, r: usize) -> Mask {
    let (h, w) = (mask.height(), mask.width());
    Mask::from_fn(h, w, |x, y| {
        if !mask.get(x, y) {
            return false;
        }
        let (x0, x1) = (x.saturating_sub(r), (x + r).min(w - 1));
        let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
        (y0..=y1).any(|yy| (x0..=x1).any(|xx| !mask.get(xx, yy)))
    })
}
