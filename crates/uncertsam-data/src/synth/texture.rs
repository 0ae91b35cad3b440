//! Procedural textures: hash-based value noise, stripes and gradients in random colours.
//!
//! Textures are functions of continuous coordinates, so the camouflage condition can sample
//! the background's pattern at an offset and transparent objects can refract it.

use rand::Rng;

use crate::seed::splitmix64;

/// An RGB colour with channels in [0, 1].
pub type Rgb = [f32; 3];

/// Smooth multi-octave value noise in [0, 1] built on a hashed integer lattice.
#[derive(Clone, Debug)]
pub struct ValueNoise {
    salt: u64,
    cell: f32,
    octaves: u32,
}

impl ValueNoise {
    /// Noise whose coarsest lattice has `cell` pixels between nodes.
    pub fn new(rng: &mut impl Rng, cell: f32, octaves: u32) -> Self {
        Self {
            salt: rng.random(),
            cell: cell.max(1.0),
            octaves: octaves.max(1),
        }
    }

    fn lattice(&self, ix: i64, iy: i64, octave: u32) -> f32 {
        let mut s = self.salt
            ^ (ix as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (iy as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            ^ u64::from(octave) << 56;
        (splitmix64(&mut s) >> 40) as f32 / (1u64 << 24) as f32
    }

    fn octave(&self, x: f32, y: f32, cell: f32, octave: u32) -> f32 {
        let (fx, fy) = (x / cell, y / cell);
        let (ix, iy) = (floor(fx), floor(fy));
        let (tx, ty) = (smooth(fx - ix as f32), smooth(fy - iy as f32));
        let top = lerp(
            self.lattice(ix, iy, octave),
            self.lattice(ix + 1, iy, octave),
            tx,
        );
        let bottom = lerp(
            self.lattice(ix, iy + 1, octave),
            self.lattice(ix + 1, iy + 1, octave),
            tx,
        );
        lerp(top, bottom, ty)
    }

    /// The noise at `(x, y)`, in [0, 1].
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let (mut total, mut norm, mut amp, mut cell) = (0.0, 0.0, 1.0, self.cell);
        for o in 0..self.octaves {
            total += amp * self.octave(x, y, cell, o);
            norm += amp;
            amp *= 0.5;
            cell = (cell * 0.5).max(1.0);
        }
        total / norm
    }
}

/// `x.floor() as i64` without a libm call (the generator's hot path).
fn floor(x: f32) -> i64 {
    let i = x as i64;
    if (i as f32) > x { i - 1 } else { i }
}

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Linear interpolation between `a` and `b`.
pub fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// Per-channel linear interpolation.
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        lerp(a[0], b[0], t),
        lerp(a[1], b[1], t),
        lerp(a[2], b[2], t),
    ]
}

/// A colour from hue (turns), saturation and value.
pub fn hsv(h: f32, s: f32, v: f32) -> Rgb {
    let h6 = h.rem_euclid(1.0) * 6.0;
    let c = v * s;
    let x = c * (1.0 - ((h6 % 2.0) - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// Relative luminance (Rec. 709 weights).
pub fn luma(c: Rgb) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

/// A random colour; `value` bounds its brightness.
pub fn random_colour(rng: &mut impl Rng, value: std::ops::Range<f32>) -> Rgb {
    hsv(
        rng.random(),
        rng.random_range(0.2..0.9),
        rng.random_range(value),
    )
}

/// A background texture, evaluable anywhere in the plane.
#[derive(Clone, Debug)]
pub enum Texture {
    /// Two colours mixed by value noise.
    Noise {
        /// Colour at noise 0.
        a: Rgb,
        /// Colour at noise 1.
        b: Rgb,
        /// The noise.
        noise: ValueNoise,
    },
    /// Wavy stripes between two colours.
    Stripes {
        /// First colour.
        a: Rgb,
        /// Second colour.
        b: Rgb,
        /// Direction (unit vector) across the stripes.
        dir: (f32, f32),
        /// Stripe period in pixels.
        period: f32,
        /// Noise that bends the stripes.
        wobble: ValueNoise,
    },
    /// A linear gradient with a little noise.
    Gradient {
        /// Colour at the start.
        a: Rgb,
        /// Colour at the end.
        b: Rgb,
        /// Direction (unit vector) scaled by 1 / image size.
        dir: (f32, f32),
        /// Low-amplitude noise.
        noise: ValueNoise,
    },
}

impl Texture {
    /// A random texture for an image of side `size`.
    pub fn random(rng: &mut impl Rng, size: f32) -> Self {
        let a = random_colour(rng, 0.15..0.9);
        let b = random_colour(rng, 0.15..0.9);
        let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
        let dir = (angle.cos(), angle.sin());
        match rng.random_range(0..3) {
            0 => {
                let cell = size * rng.random_range(0.06..0.3);
                Self::Noise {
                    a,
                    b,
                    noise: ValueNoise::new(rng, cell, 4),
                }
            }
            1 => Self::Stripes {
                a,
                b,
                dir,
                period: size * rng.random_range(0.03..0.12),
                wobble: ValueNoise::new(rng, size * 0.2, 2),
            },
            _ => Self::Gradient {
                a,
                b,
                dir: (dir.0 / size, dir.1 / size),
                noise: ValueNoise::new(rng, size * 0.1, 3),
            },
        }
    }

    /// The colour at `(x, y)`.
    pub fn at(&self, x: f32, y: f32) -> Rgb {
        match self {
            Self::Noise { a, b, noise } => mix(*a, *b, noise.at(x, y)),
            Self::Stripes {
                a,
                b,
                dir,
                period,
                wobble,
            } => {
                let t = (x * dir.0 + y * dir.1) / period + 2.0 * wobble.at(x, y);
                mix(*a, *b, 0.5 + 0.5 * (t * std::f32::consts::TAU).sin())
            }
            Self::Gradient { a, b, dir, noise } => {
                let t = (0.5 + x * dir.0 + y * dir.1).clamp(0.0, 1.0);
                let c = mix(*a, *b, t);
                let n = 0.85 + 0.3 * noise.at(x, y);
                [c[0] * n, c[1] * n, c[2] * n]
            }
        }
    }

    /// The mean colour of the texture's two end colours.
    pub fn mean(&self) -> Rgb {
        match self {
            Self::Noise { a, b, .. } | Self::Stripes { a, b, .. } | Self::Gradient { a, b, .. } => {
                mix(*a, *b, 0.5)
            }
        }
    }
}
