//! Renders one synthetic image and its instance masks under a condition.

use rand::Rng;
use rand_distr::{Distribution as _, Normal};

use super::Condition;
use super::canvas::{Canvas, alpha_of, box_blur, rim};
use super::shapes::Shape;
use super::texture::{Rgb, Texture, ValueNoise, hsv, luma, mix, random_colour};
use crate::mask::Mask;

/// One rendered image and its visible instance masks (non-overlapping, each non-empty).
pub(crate) struct Rendered {
    pub canvas: Canvas,
    pub masks: Vec<Mask>,
}

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

/// Later objects occlude earlier ones; instances left smaller than `min_area` are dropped.
fn visible_masks(raw: Vec<Mask>, min_area: u64) -> Vec<Mask> {
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

fn contrasting_colour(rng: &mut impl Rng, against: Rgb) -> Rgb {
    let mut colour = random_colour(rng, 0.1..1.0);
    for _ in 0..20 {
        if (luma(colour) - luma(against)).abs() > 0.25 {
            break;
        }
        colour = random_colour(rng, 0.1..1.0);
    }
    colour
}

fn draw_opaque(canvas: &mut Canvas, mask: &Mask, against: Rgb, size: f32, rng: &mut impl Rng) {
    let colour = contrasting_colour(rng, against);
    let noise = ValueNoise::new(rng, size * 0.05, 3);
    let light = rng.random_range(0.0..std::f32::consts::TAU);
    let (lx, ly) = (light.cos() / size, light.sin() / size);
    canvas.blend(&alpha_of(mask), |x, y, _| {
        let (fx, fy) = (x as f32, y as f32);
        let shade = 0.8 + 0.35 * noise.at(fx, fy) + 0.6 * (fx * lx + fy * ly);
        colour.map(|c| c * shade)
    });
}

fn draw_glass(canvas: &mut Canvas, mask: &Mask, rng: &mut impl Rng) {
    let tint = hsv(
        rng.random(),
        rng.random_range(0.05..0.35),
        rng.random_range(0.75..1.0),
    );
    let opacity = rng.random_range(0.2..0.4);
    let (k, period) = (rng.random_range(2.0..4.0), rng.random_range(6.0..14.0));
    let before = canvas.clone();
    canvas.blend(&alpha_of(mask), |x, y, _| {
        let (fx, fy) = (x as f32, y as f32);
        let seen = before.at_clamped(fx + k * (fy / period).sin(), fy + k * (fx / period).cos());
        mix(seen, tint, opacity)
    });
    let edge = rim(mask, 1);
    canvas.blend(&alpha_of(&edge), |_, _, old| mix(old, [1.0; 3], 0.55));
}

fn draw_camouflaged(canvas: &mut Canvas, mask: &Mask, bg: &Texture, size: f32, rng: &mut impl Rng) {
    let sign = |rng: &mut dyn rand::RngCore| if rng.random() { 1.0 } else { -1.0 };
    let ox = sign(rng) * size * rng.random_range(0.15..0.4);
    let oy = sign(rng) * size * rng.random_range(0.15..0.4);
    let gain = rng.random_range(0.85..1.15);
    canvas.blend(&alpha_of(mask), |x, y, _| {
        bg.at(x as f32 + 0.5 + ox, y as f32 + 0.5 + oy)
            .map(|c| c * gain)
    });
    let edge = rim(mask, 1);
    canvas.blend(&alpha_of(&edge), |_, _, old| old.map(|c| c * 0.88));
}

fn draw_shadows(canvas: &mut Canvas, shapes: &[Shape], rng: &mut impl Rng) {
    let (h, w) = (canvas.height, canvas.width);
    let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let darkness = rng.random_range(0.45..0.65);
    let mut alpha = vec![0f32; h * w];
    let mut casters: Vec<(Shape, f32)> = shapes
        .iter()
        .map(|s| (s.clone(), rng.random_range(0.15..0.35)))
        .collect();
    if rng.random_bool(0.5) {
        // A shadow cast by something outside the picture: not an object, not in any mask.
        let size = h.min(w) as f32;
        let c = (
            rng.random_range(0.0..w as f32),
            rng.random_range(0.0..h as f32),
        );
        let r = size * rng.random_range(0.1..0.2);
        casters.push((Shape::blob(rng, c, r), 0.0));
    }
    for (shape, reach) in &casters {
        let (x0, y0, x1, y1) = shape.bounds();
        let ext = (x1 - x0).max(y1 - y0) * reach;
        let m = shape.rasterise(h, w, (ext * angle.cos(), ext * angle.sin()));
        for (a, &v) in alpha.iter_mut().zip(m.data()) {
            *a = a.max(f32::from(v));
        }
    }
    box_blur(&mut alpha, h, w, 2, 2);
    canvas.blend(&alpha, |_, _, old| {
        [
            old[0] * (1.0 - darkness),
            old[1] * (1.0 - darkness),
            old[2] * (1.0 - 0.8 * darkness),
        ]
    });
}

fn draw_flare(canvas: &mut Canvas, shapes: &[Shape], size: f32, rng: &mut impl Rng) {
    let target = &shapes[rng.random_range(0..shapes.len())];
    let (x0, y0, x1, y1) = target.bounds();
    let ext = (x1 - x0).max(y1 - y0);
    let src = (
        (x0 + x1) / 2.0 + rng.random_range(-0.3..0.3) * ext,
        (y0 + y1) / 2.0 + rng.random_range(-0.3..0.3) * ext,
    );
    let tint = hsv(
        rng.random_range(0.05..0.18),
        rng.random_range(0.1..0.35),
        1.0,
    );
    let (sigma, amp) = (
        size * rng.random_range(0.06..0.14),
        rng.random_range(0.8..1.3),
    );
    let streaks: Vec<(f32, f32, f32, f32)> = (0..rng.random_range(4..9))
        .map(|_| {
            let a: f32 = rng.random_range(0.0..std::f32::consts::PI);
            (
                a,
                rng.random_range(0.4..0.9),
                rng.random_range(0.8..2.0),
                size * rng.random_range(0.3..0.8),
            )
        })
        .collect();
    let centre = (canvas.width as f32 / 2.0, canvas.height as f32 / 2.0);
    let ghosts: Vec<((f32, f32), f32, Rgb)> = (0..rng.random_range(2..4))
        .map(|_| {
            let t = rng.random_range(1.2..2.2);
            let p = (
                src.0 + t * (centre.0 - src.0),
                src.1 + t * (centre.1 - src.1),
            );
            (
                p,
                size * rng.random_range(0.03..0.08),
                hsv(rng.random(), 0.6, 0.25),
            )
        })
        .collect();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let (dx, dy) = (x as f32 + 0.5 - src.0, y as f32 + 0.5 - src.1);
            let d2 = dx * dx + dy * dy;
            let mut glow = amp * (-d2 / (2.0 * sigma * sigma)).exp();
            for &(a, strength, width, length) in &streaks {
                let perp = -dx * a.sin() + dy * a.cos();
                let along = (dx * a.cos() + dy * a.sin()).abs();
                glow += strength
                    * (-perp * perp / (2.0 * width * width)).exp()
                    * (-along / length).exp();
            }
            let p = &mut canvas.px[y * canvas.width + x];
            for c in 0..3 {
                p[c] += glow * tint[c];
            }
            for &(g, r, colour) in &ghosts {
                let (gx, gy) = (x as f32 + 0.5 - g.0, y as f32 + 0.5 - g.1);
                if gx * gx + gy * gy < r * r {
                    for c in 0..3 {
                        p[c] += colour[c];
                    }
                }
            }
        }
    }
}

fn render_ct(
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

/// Adds Gaussian noise of standard deviation `sigma` (the same on all channels if `gray`).
fn add_noise(canvas: &mut Canvas, sigma: f32, gray: bool, rng: &mut impl Rng) {
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
