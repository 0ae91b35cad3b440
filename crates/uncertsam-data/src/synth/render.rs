//! Renders one synthetic image and its instance masks under a condition.

use rand::Rng;

use super::Condition;
use super::canvas::Canvas;
use super::ct::render_ct;
use super::effects::{draw_camouflaged, draw_flare, draw_glass, draw_opaque, draw_shadows};
use super::rendered::{Rendered, add_noise, visible_masks};
use super::shapes::Shape;
use super::texture::Texture;
use crate::mask::Mask;

pub(crate) fn render(
    condition: Condition,
    height: usize,
    width: usize,
    max_instances: usize,
    rng: &mut impl Rng,
) -> Rendered {
    let size = height.min(width) as f32;
    let min_area = ((size * size) * 0.0008).max(8.0) as u64;
    if condition == Condition::Ct {
        return render_ct(height, width, max_instances, min_area, rng);
    }
    let mut bg = Texture::random(rng, size);
    while condition == Condition::Camouflage && matches!(bg, Texture::Gradient { .. }) {
        bg = Texture::random(rng, size);
    }
    let mut canvas = Canvas::from_texture(height, width, &bg);
    let n = rng.random_range(1..=max_instances.max(1));
    let (shapes, raw) = place_shapes(condition, height, width, n, min_area, rng);
    if condition == Condition::Shadow {
        draw_shadows(&mut canvas, &shapes, rng);
    }
    for mask in &raw {
        match condition {
            Condition::Transparency => draw_glass(&mut canvas, mask, rng),
            Condition::Camouflage => draw_camouflaged(&mut canvas, mask, &bg, size, rng),
            _ => draw_opaque(&mut canvas, mask, bg.mean(), size, rng),
        }
    }
    if condition == Condition::Flare {
        draw_flare(&mut canvas, &shapes, size, rng);
    }
    add_noise(&mut canvas, 0.01, false, rng);
    Rendered {
        canvas,
        masks: visible_masks(raw, min_area),
    }
}

/// Draws shapes until `n` are placed that overlap earlier ones by less than 10 %.
fn place_shapes(
    condition: Condition,
    height: usize,
    width: usize,
    n: usize,
    min_area: u64,
    rng: &mut impl Rng,
) -> (Vec<Shape>, Vec<Mask>) {
    let size = height.min(width) as f32;
    let (mut shapes, mut masks) = (Vec::new(), Vec::<Mask>::new());
    for _ in 0..n * 12 {
        if shapes.len() == n {
            break;
        }
        let r = size * rng.random_range(0.08..0.2);
        let c = (
            rng.random_range(0.5 * r..(width as f32 - 0.5 * r).max(0.5 * r + 1.0)),
            rng.random_range(0.5 * r..(height as f32 - 0.5 * r).max(0.5 * r + 1.0)),
        );
        let thick = ((0.012 * size).max(1.0), (0.025 * size).max(1.5));
        let thin = (0.6, 1.2);
        let shape = match (condition, rng.random_range(0..20)) {
            (Condition::Fine, k) if k < 10 => Shape::blob_with_legs(rng, c, r * 1.3, thin),
            (Condition::Fine, _) => Shape::branches(rng, c, r * 1.5, thin),
            (Condition::Transparency | Condition::Camouflage, k) if k < 10 => {
                Shape::blob(rng, c, r)
            }
            (Condition::Transparency | Condition::Camouflage, _) => Shape::polygon(rng, c, r),
            (_, k) if k < 8 => Shape::blob(rng, c, r),
            (_, k) if k < 15 => Shape::polygon(rng, c, r),
            _ => Shape::branches(rng, c, r * 1.3, thick),
        };
        let mask = shape.rasterise(height, width, (0.0, 0.0));
        let area = mask.area();
        let overlap = |m: &Mask| {
            m.data()
                .iter()
                .zip(mask.data())
                .filter(|(a, b)| **a & **b == 1)
                .count()
        };
        if area < min_area
            || masks
                .iter()
                .any(|m| overlap(m) as u64 * 10 > area.min(m.area()))
        {
            continue;
        }
        shapes.push(shape);
        masks.push(mask);
    }
    if masks.is_empty() {
        // Fall back to a central blob so every image has an object.
        let shape = Shape::blob(rng, (width as f32 / 2.0, height as f32 / 2.0), size * 0.2);
        masks.push(shape.rasterise(height, width, (0.0, 0.0)));
        shapes.push(shape);
    }
    (shapes, masks)
}
