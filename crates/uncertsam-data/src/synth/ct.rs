//! The CT condition: grayscale slices with a body, a vertebra and low-contrast organs.

use rand::Rng;

use super::canvas::{Canvas, box_blur};
use super::rendered::{Rendered, add_noise, visible_masks};
use super::shapes::Shape;
use super::texture::ValueNoise;
use crate::mask::Mask;

/// Renders one CT-like slice.
pub(super) fn render_ct(
    height: usize,
    width: usize,
    max_instances: usize,
    min_area: u64,
    rng: &mut impl Rng,
) -> Rendered {
    let size = height.min(width) as f32;
    let (cx, cy) = (
        width as f32 * rng.random_range(0.45..0.55),
        height as f32 * rng.random_range(0.45..0.55),
    );
    let (ax, ay) = (
        width as f32 * rng.random_range(0.38..0.47),
        height as f32 * rng.random_range(0.3..0.42),
    );
    let body = Mask::from_fn(height, width, |x, y| {
        let (u, v) = ((x as f32 + 0.5 - cx) / ax, (y as f32 + 0.5 - cy) / ay);
        u * u + v * v < 1.0
    });
    let tissue = rng.random_range(0.3..0.42);
    let noise = ValueNoise::new(rng, size * 0.08, 3);
    let mut level: Vec<f32> = (0..height * width)
        .map(|i| {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            if body.data()[i] == 1 {
                tissue + 0.08 * (noise.at(x, y) - 0.5)
            } else {
                0.02
            }
        })
        .collect();
    // A vertebra: bright, never a mask.
    let bone =
        Shape::blob(rng, (cx, cy + 0.7 * ay), size * 0.06).rasterise(height, width, (0.0, 0.0));
    for (l, &b) in level.iter_mut().zip(bone.data()) {
        if b == 1 {
            *l = 0.85;
        }
    }
    let n = rng.random_range(1..=max_instances.clamp(1, 3));
    let mut raw: Vec<Mask> = Vec::new();
    for _ in 0..n * 12 {
        if raw.len() == n {
            break;
        }
        let (a, t) = (
            rng.random_range(0.0..std::f32::consts::TAU),
            rng.random_range(0.0..0.55f32).sqrt(),
        );
        let c = (cx + t * ax * a.cos(), cy + t * ay * a.sin());
        let r = size * rng.random_range(0.07..0.14);
        let organ = Shape::blob(rng, c, r).rasterise(height, width, (0.0, 0.0));
        let organ = Mask::from_fn(height, width, |x, y| {
            organ.get(x, y) && body.get(x, y) && !bone.get(x, y)
        });
        if organ.area() < min_area
            || raw
                .iter()
                .any(|m| m.data().iter().zip(organ.data()).any(|(a, b)| a & b == 1))
        {
            continue;
        }
        let delta = rng.random_range(0.05..0.1) * if rng.random() { 1.0 } else { -1.0 };
        for (l, &o) in level.iter_mut().zip(organ.data()) {
            if o == 1 {
                *l = tissue + delta + 0.04 * (*l - tissue);
            }
        }
        raw.push(organ);
    }
    if raw.is_empty() {
        let organ = Shape::blob(rng, (cx, cy), size * 0.12).rasterise(height, width, (0.0, 0.0));
        for (l, &o) in level.iter_mut().zip(organ.data()) {
            if o == 1 {
                *l = tissue + 0.08;
            }
        }
        raw.push(organ);
    }
    box_blur(&mut level, height, width, 1, 1);
    let mut canvas = Canvas {
        height,
        width,
        px: level.iter().map(|&l| [l; 3]).collect(),
    };
    add_noise(&mut canvas, rng.random_range(0.03..0.06), true, rng);
    Rendered {
        canvas,
        masks: visible_masks(raw, min_area),
    }
}
