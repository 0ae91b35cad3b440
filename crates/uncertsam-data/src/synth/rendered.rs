//! What a renderer returns, and the finishing steps both renderers (`render.rs`, `ct.rs`)
//! share: occlusion of earlier masks by later ones, and sensor noise.

use rand::Rng;
use rand_distr::{Distribution as _, Normal};

use super::canvas::Canvas;
use crate::mask::Mask;

/// One rendered image and its visible instance masks (non-overlapping, each non-empty).
pub(crate) struct Rendered {
    pub canvas: Canvas,
    pub masks: Vec<Mask>,
}

/// Later objects occlude earlier ones; instances left smaller than `min_area` are dropped.
pub(super) fn visible_masks(raw: Vec<Mask>, min_area: u64) -> Vec<Mask> {
    let mut out = Vec::with_capacity(raw.len());
    for (k, mask) in raw.iter().enumerate() {
        let visible = Mask::from_fn(mask.height(), mask.width(), |x, y| {
            mask.get(x, y) && !raw[k + 1..].iter().any(|m| m.get(x, y))
        });
        if visible.area() >= min_area || (k + 1 == raw.len() && !visible.is_empty()) {
            out.push(visible);
        }
    }
    out
}

/// Adds Gaussian noise of standard deviation `sigma` (the same on all channels if `gray`).
pub(super) fn add_noise(canvas: &mut Canvas, sigma: f32, gray: bool, rng: &mut impl Rng) {
    let Ok(normal) = Normal::new(0.0f32, sigma) else {
        return;
    };
    for p in &mut canvas.px {
        if gray {
            let n = normal.sample(rng);
            *p = p.map(|c| c + n);
        } else {
            for c in p.iter_mut() {
                *c += normal.sample(rng);
            }
        }
    }
}
