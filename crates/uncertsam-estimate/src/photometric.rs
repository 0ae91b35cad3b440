//! Photometric image transforms for test-time augmentation, on 8-bit RGB with the integer
//! semantics of PIL / torchvision's PIL path: `adjust_hue` (RGB -> HSV, shift hue with u8
//! wrap-around, HSV -> RGB), `adjust_brightness` / `adjust_contrast` / `adjust_saturation`
//! (PIL `ImageEnhance` blends) and `rgb_to_grayscale` (PIL "L").

use image::{Rgb, RgbImage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn clip8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

/// PIL `rgb2hsv_row` (Convert.c) for one pixel.
fn rgb_to_hsv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let maxc = r.max(g).max(b);
    let minc = r.min(g).min(b);
    if maxc == minc {
        return [0, 0, maxc];
    }
    let cr = (maxc - minc) as f32;
    let s = cr / maxc as f32;
    let rc = (maxc - r) as f32 / cr;
    let gc = (maxc - g) as f32 / cr;
    let bc = (maxc - b) as f32 / cr;
    let h: f32 = if r == maxc {
        bc - gc
    } else if g == maxc {
        2.0 + rc - bc
    } else {
        4.0 + gc - rc
    };
    let h = ((h as f64 / 6.0 + 1.0) % 1.0) as f32;
    [
        clip8((h as f64 * 255.0) as i32),
        clip8((s as f64 * 255.0) as i32),
        maxc,
    ]
}

/// PIL `hsv2rgb` (Convert.c) for one pixel.
fn hsv_to_rgb([h, s, v]: [u8; 3]) -> [u8; 3] {
    if s == 0 {
        return [v, v, v];
    }
    let hf = (h as f32) as f64 * 6.0 / 255.0;
    let i = hf.floor() as i32;
    let f = (hf - i as f64) as f32;
    let fs = (s as f32 as f64 / 255.0) as f32;
    let vf = v as f32 as f64;
    let p = clip8((vf * (1.0 - fs as f64)).round() as i32);
    let q = clip8((vf * (1.0 - (fs * f) as f64)).round() as i32);
    let t = clip8((vf * (1.0 - (fs * (1.0 - f)) as f64)).round() as i32);
    match i % 6 {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

/// torchvision `adjust_hue` on a PIL image: the hue channel (0-255) is shifted by
/// `int(hue_factor * 255)` with u8 wrap-around. `hue_factor` is clamped to `[-0.5, 0.5]`.
pub fn adjust_hue(image: &RgbImage, hue_factor: f32) -> RgbImage {
    let shift = (hue_factor.clamp(-0.5, 0.5) as f64 * 255.0) as i32 as u8;
    map_pixels(image, |px| {
        let [h, s, v] = rgb_to_hsv(px);
        hsv_to_rgb([h.wrapping_add(shift), s, v])
    })
}

fn map_pixels(image: &RgbImage, f: impl Fn([u8; 3]) -> [u8; 3]) -> RgbImage {
    let mut out = image.clone();
    for px in out.pixels_mut() {
        *px = Rgb(f(px.0));
    }
    out
}

/// PIL "L": `(299 R + 587 G + 114 B) / 1000` in 16-bit fixed point with rounding.
fn luma([r, g, b]: [u8; 3]) -> u8 {
    ((r as u32 * 19595 + g as u32 * 38470 + b as u32 * 7471 + 0x8000) >> 16) as u8
}

/// PIL `Image.blend(degenerate, image, alpha)`: truncation inside `[0, 1]`, clipping outside.
fn blend(degenerate: u8, value: u8, alpha: f32) -> u8 {
    let t = degenerate as f32 + alpha * (value as i32 - degenerate as i32) as f32;
    if (0.0..=1.0).contains(&alpha) {
        t as u8
    } else if t <= 0.0 {
        0
    } else if t >= 255.0 {
        255
    } else {
        t as u8
    }
}

/// torchvision `adjust_brightness` (PIL `ImageEnhance.Brightness`).
pub fn adjust_brightness(image: &RgbImage, factor: f32) -> RgbImage {
    map_pixels(image, |px| px.map(|c| blend(0, c, factor)))
}

/// torchvision `adjust_contrast` (PIL `ImageEnhance.Contrast`): blend with the rounded mean
/// of the grayscale image.
pub fn adjust_contrast(image: &RgbImage, factor: f32) -> RgbImage {
    let n = (image.width() as f64 * image.height() as f64).max(1.0);
    let sum: f64 = image.pixels().map(|p| luma(p.0) as f64).sum();
    let mean = (sum / n + 0.5) as u8;
    map_pixels(image, |px| px.map(|c| blend(mean, c, factor)))
}

/// torchvision `adjust_saturation` (PIL `ImageEnhance.Color`): blend with the grayscale pixel.
pub fn adjust_saturation(image: &RgbImage, factor: f32) -> RgbImage {
    map_pixels(image, |px| {
        let l = luma(px);
        px.map(|c| blend(l, c, factor))
    })
}

/// torchvision `rgb_to_grayscale(img, 3)` on a PIL image: "L" copied to three channels.
pub fn rgb_to_grayscale(image: &RgbImage) -> RgbImage {
    map_pixels(image, |px| [luma(px); 3])
}

/// Strengths of one colour jitter (torchvision `ColorJitter` without hue): each factor is
/// drawn from `U[1 - x, 1 + x]`, and the three adjustments run in a random order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JitterStrength {
    /// Brightness strength.
    pub brightness: f32,
    /// Contrast strength.
    pub contrast: f32,
    /// Saturation strength.
    pub saturation: f32,
}

/// One colour jitter with factors and order drawn from `rng` (SAM 2's training `ColorJitter`).
pub fn color_jitter(image: &RgbImage, s: JitterStrength, rng: &mut ChaCha8Rng) -> RgbImage {
    let mut factor = |x: f32| rng.random_range(1.0 - x..=1.0 + x);
    let factors = [
        factor(s.brightness),
        factor(s.contrast),
        factor(s.saturation),
    ];
    let mut order = [0usize, 1, 2];
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut out = image.clone();
    for op in order {
        out = match op {
            0 => adjust_brightness(&out, factors[0]),
            1 => adjust_contrast(&out, factors[1]),
            _ => adjust_saturation(&out, factors[2]),
        };
    }
    out
}

/// The "in-domain" TTA of spec §3.1 (SAM 2 training jitter): a jitter with strengths
/// (0.1, 0.03, 0.03), grayscale with probability 0.05, then a jitter with (0.1, 0.05, 0.05).
pub fn in_domain_jitter(image: &RgbImage, rng: &mut ChaCha8Rng) -> RgbImage {
    let consistent = JitterStrength {
        brightness: 0.1,
        contrast: 0.03,
        saturation: 0.03,
    };
    let per_frame = JitterStrength {
        brightness: 0.1,
        contrast: 0.05,
        saturation: 0.05,
    };
    let mut out = color_jitter(image, consistent, rng);
    if rng.random::<f32>() < 0.05 {
        out = rgb_to_grayscale(&out);
    }
    color_jitter(&out, per_frame, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic 8 x 4 test image with saturated and unsaturated colours.
    fn pixels() -> RgbImage {
        RgbImage::from_fn(8, 4, |x, y| {
            let i = y * 8 + x;
            Rgb([
                ((i * 37 + 11) % 256) as u8,
                ((i * 91 + 3) % 256) as u8,
                ((i * 53 + 200) % 256) as u8,
            ])
        })
    }

    fn flat(image: &RgbImage) -> Vec<u8> {
        image.as_raw().clone()
    }

    #[test]
    fn hue_shift_of_zero_roundtrips_grey_and_primaries_exactly() {
        let img = RgbImage::from_fn(4, 1, |x, _| {
            [
                Rgb([255, 0, 0]),
                Rgb([0, 255, 0]),
                Rgb([0, 0, 255]),
                Rgb([90, 90, 90]),
            ][x as usize]
        });
        assert_eq!(flat(&adjust_hue(&img, 0.0)), flat(&img));
    }

    #[test]
    fn hue_shift_of_a_third_rotates_red_to_green() {
        let img = RgbImage::from_pixel(1, 1, Rgb([255, 0, 0]));
        // int(1/3 * 255) = 85 = one third of the u8 hue circle.
        let out = adjust_hue(&img, 1.0 / 3.0);
        assert_eq!(out.get_pixel(0, 0).0, [0, 255, 0]);
    }

    #[test]
    fn grayscale_and_identity_factors() {
        let img = pixels();
        assert_eq!(flat(&adjust_brightness(&img, 1.0)), flat(&img));
        assert_eq!(flat(&adjust_saturation(&img, 1.0)), flat(&img));
        let g = rgb_to_grayscale(&img);
        assert!(g.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn matches_torchvision_on_pil() {
        // Generated by torchvision's PIL path (PIL 13) on `pixels()`.
        const HUE_M050: [u8; 96] = [
            193, 200, 3, 253, 207, 49, 152, 50, 185, 20, 122, 39, 112, 159, 115, 209, 203, 197, 6,
            198, 233, 128, 14, 81, 219, 52, 154, 130, 165, 54, 218, 197, 126, 93, 16, 236, 69, 194,
            199, 121, 191, 236, 253, 18, 90, 227, 192, 54, 115, 25, 179, 14, 128, 65, 105, 165,
            140, 184, 189, 202, 32, 239, 37, 122, 20, 106, 213, 58, 182, 93, 139, 49, 192, 184,
            131, 245, 183, 168, 43, 180, 205, 96, 178, 242, 247, 23, 118, 201, 180, 61, 254, 179,
            98, 8, 134, 91,
        ];
        const HUE_M023: [u8; 96] = [
            3, 200, 133, 49, 253, 130, 185, 98, 50, 20, 39, 122, 112, 126, 159, 197, 209, 199, 182,
            6, 233, 127, 128, 14, 219, 217, 52, 54, 165, 158, 126, 218, 163, 236, 16, 21, 155, 69,
            199, 236, 121, 235, 184, 253, 18, 54, 227, 127, 179, 54, 25, 22, 14, 128, 118, 105,
            165, 202, 184, 196, 32, 105, 239, 122, 97, 20, 213, 182, 58, 49, 127, 139, 131, 192,
            161, 183, 245, 168, 169, 43, 205, 242, 96, 233, 208, 247, 23, 61, 201, 127, 98, 254,
            120, 44, 8, 134,
        ];
        const HUE_P010: [u8; 96] = [
            124, 3, 200, 121, 49, 253, 50, 185, 91, 122, 20, 44, 159, 112, 128, 198, 197, 209, 233,
            166, 6, 14, 128, 124, 52, 219, 209, 153, 54, 165, 158, 126, 218, 36, 236, 16, 199, 145,
            69, 236, 229, 121, 18, 195, 253, 119, 54, 227, 25, 179, 46, 128, 14, 14, 165, 114, 105,
            197, 202, 184, 239, 32, 115, 20, 122, 92, 58, 213, 175, 139, 49, 132, 158, 131, 192,
            168, 186, 245, 205, 157, 43, 242, 240, 96, 23, 218, 247, 120, 61, 201, 112, 98, 254,
            134, 35, 8,
        ];
        const HUE_P050: [u8; 96] = [
            200, 198, 3, 253, 198, 49, 145, 50, 185, 20, 122, 34, 112, 159, 113, 209, 203, 197, 6,
            209, 233, 128, 14, 86, 219, 52, 162, 135, 165, 54, 218, 193, 126, 83, 16, 236, 69, 199,
            197, 121, 197, 236, 253, 18, 101, 227, 184, 54, 108, 25, 179, 14, 128, 60, 105, 165,
            138, 184, 190, 202, 37, 239, 32, 122, 20, 111, 213, 58, 189, 97, 139, 49, 192, 181,
            131, 245, 179, 168, 43, 188, 205, 96, 185, 242, 247, 23, 129, 201, 173, 61, 254, 171,
            98, 8, 134, 85,
        ];
        const BRIGHT_0_9: [u8; 96] = [
            9, 2, 180, 43, 84, 227, 76, 166, 45, 109, 18, 92, 143, 99, 140, 176, 181, 188, 209, 33,
            5, 12, 115, 53, 45, 197, 100, 79, 48, 148, 112, 130, 196, 145, 212, 13, 179, 63, 61,
            212, 145, 108, 15, 227, 156, 48, 79, 204, 81, 161, 21, 115, 12, 69, 148, 94, 117, 181,
            176, 164, 215, 27, 212, 18, 109, 29, 51, 191, 77, 84, 43, 125, 117, 125, 172, 151, 207,
            220, 184, 58, 37, 217, 140, 85, 20, 222, 133, 54, 73, 180, 87, 155, 228, 120, 7, 45,
        ];
        const BRIGHT_1_1: [u8; 96] = [
            12, 3, 220, 52, 103, 255, 93, 203, 55, 134, 22, 113, 174, 122, 171, 215, 222, 229, 255,
            40, 6, 15, 140, 64, 56, 240, 123, 96, 59, 181, 137, 159, 239, 178, 255, 16, 218, 78,
            74, 255, 178, 133, 18, 255, 191, 59, 96, 249, 100, 196, 26, 140, 15, 84, 181, 115, 143,
            222, 215, 201, 255, 34, 255, 22, 134, 36, 62, 234, 94, 103, 52, 152, 144, 152, 211,
            184, 253, 255, 225, 71, 46, 255, 171, 104, 25, 255, 162, 66, 90, 221, 106, 190, 255,
            147, 8, 56,
        ];
        const CONTRAST_0_95: [u8; 96] = [
            16, 9, 196, 51, 95, 246, 87, 182, 53, 122, 25, 104, 157, 111, 154, 192, 198, 204, 227,
            41, 11, 19, 127, 62, 54, 214, 112, 89, 57, 163, 125, 144, 213, 160, 230, 20, 195, 73,
            70, 230, 160, 121, 22, 246, 171, 57, 89, 221, 92, 176, 29, 127, 19, 79, 163, 106, 129,
            198, 192, 180, 233, 35, 230, 25, 122, 37, 60, 208, 87, 95, 51, 138, 130, 138, 188, 165,
            224, 239, 201, 68, 46, 236, 154, 96, 28, 240, 146, 63, 84, 197, 98, 170, 247, 133, 13,
            54,
        ];
        const CONTRAST_1_05: [u8; 96] = [
            5, 0, 203, 44, 92, 255, 83, 188, 46, 121, 14, 101, 160, 110, 157, 199, 205, 213, 238,
            32, 0, 8, 128, 55, 47, 223, 111, 86, 50, 167, 125, 146, 222, 163, 241, 9, 202, 68, 65,
            241, 163, 120, 11, 255, 176, 50, 86, 232, 89, 181, 18, 128, 8, 74, 167, 104, 130, 205,
            199, 185, 244, 26, 241, 14, 121, 28, 53, 217, 84, 92, 44, 139, 131, 139, 195, 170, 235,
            251, 209, 62, 37, 247, 157, 93, 17, 253, 149, 56, 79, 204, 95, 175, 255, 134, 2, 47,
        ];
        const SAT_0_95: [u8; 96] = [
            11, 4, 191, 50, 94, 245, 87, 182, 54, 118, 22, 100, 157, 111, 154, 196, 201, 208, 225,
            39, 10, 17, 125, 60, 56, 215, 114, 87, 55, 160, 126, 145, 214, 163, 233, 23, 194, 72,
            70, 233, 162, 123, 24, 249, 173, 56, 88, 220, 93, 176, 29, 124, 16, 75, 163, 106, 129,
            201, 196, 183, 232, 35, 230, 23, 119, 35, 61, 209, 89, 92, 49, 135, 131, 139, 189, 170,
            229, 243, 199, 66, 45, 238, 156, 99, 30, 243, 149, 61, 82, 195, 100, 172, 249, 129, 10,
            51,
        ];
        const SAT_1_05: [u8; 96] = [
            10, 1, 208, 45, 93, 255, 82, 187, 45, 125, 18, 105, 160, 110, 157, 195, 202, 209, 240,
            34, 1, 10, 130, 57, 45, 222, 109, 88, 52, 169, 123, 144, 221, 160, 238, 6, 203, 69, 65,
            238, 161, 118, 9, 255, 174, 52, 87, 233, 88, 181, 18, 131, 11, 78, 166, 103, 130, 202,
            196, 182, 245, 26, 241, 16, 124, 30, 52, 216, 82, 95, 46, 142, 130, 138, 194, 165, 230,
            246, 210, 63, 38, 245, 155, 91, 15, 250, 146, 58, 81, 206, 93, 173, 255, 138, 5, 51,
        ];
        const GRAY: [u8; 96] = [
            28, 28, 28, 98, 98, 98, 140, 140, 140, 60, 60, 60, 130, 130, 130, 201, 201, 201, 92,
            92, 92, 86, 86, 86, 157, 157, 157, 77, 77, 77, 147, 147, 147, 189, 189, 189, 109, 109,
            109, 179, 179, 179, 173, 173, 173, 94, 94, 94, 135, 135, 135, 55, 55, 55, 126, 126,
            126, 196, 196, 196, 117, 117, 117, 81, 81, 81, 152, 152, 152, 72, 72, 72, 143, 143,
            143, 213, 213, 213, 104, 104, 104, 175, 175, 175, 169, 169, 169, 89, 89, 89, 160, 160,
            160, 51, 51, 51,
        ];
        let img = pixels();
        let cases: [(&str, RgbImage, &[u8; 96]); 11] = [
            ("hue -0.5", adjust_hue(&img, -0.5), &HUE_M050),
            ("hue -0.23", adjust_hue(&img, -0.23), &HUE_M023),
            ("hue 0.1", adjust_hue(&img, 0.1), &HUE_P010),
            ("hue 0.5", adjust_hue(&img, 0.5), &HUE_P050),
            ("brightness 0.9", adjust_brightness(&img, 0.9), &BRIGHT_0_9),
            ("brightness 1.1", adjust_brightness(&img, 1.1), &BRIGHT_1_1),
            ("contrast 0.95", adjust_contrast(&img, 0.95), &CONTRAST_0_95),
            ("contrast 1.05", adjust_contrast(&img, 1.05), &CONTRAST_1_05),
            ("saturation 0.95", adjust_saturation(&img, 0.95), &SAT_0_95),
            ("saturation 1.05", adjust_saturation(&img, 1.05), &SAT_1_05),
            ("grayscale", rgb_to_grayscale(&img), &GRAY),
        ];
        for (name, got, want) in cases {
            assert_eq!(flat(&got), want.to_vec(), "{name}");
        }
    }
}
