//! The per-condition drawing of objects and overlays: opaque, glass, camouflaged objects,
//! cast shadows and lens flare.

use rand::Rng;

use super::canvas::{Canvas, alpha_of, box_blur, rim};
use super::shapes::Shape;
use super::texture::{Rgb, Texture, ValueNoise, hsv, luma, mix, random_colour};
use crate::mask::Mask;

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

pub(super) fn draw_opaque(
    canvas: &mut Canvas,
    mask: &Mask,
    against: Rgb,
    size: f32,
    rng: &mut impl Rng,
) {
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

pub(super) fn draw_glass(canvas: &mut Canvas, mask: &Mask, rng: &mut impl Rng) {
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

pub(super) fn draw_camouflaged(
    canvas: &mut Canvas,
    mask: &Mask,
    bg: &Texture,
    size: f32,
    rng: &mut impl Rng,
) {
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

pub(super) fn draw_shadows(canvas: &mut Canvas, shapes: &[Shape], rng: &mut impl Rng) {
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

pub(super) fn draw_flare(canvas: &mut Canvas, shapes: &[Shape], size: f32, rng: &mut impl Rng) {
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
