//! Object shapes: wobbly blobs, star polygons and thin branching structures, as point tests in
//! continuous pixel coordinates (pixel `(x, y)` covers `[x, x + 1) x [y, y + 1)`).

use rand::Rng;

use crate::mask::Mask;

/// A line segment with a half-width, for branching structures.
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    /// Start point.
    pub a: (f32, f32),
    /// End point.
    pub b: (f32, f32),
    /// Half of the stroke width, in pixels.
    pub half_width: f32,
}

/// One object's geometry.
#[derive(Clone, Debug)]
pub enum Shape {
    /// A disc whose radius varies with the angle by a few harmonics.
    Blob {
        /// Centre.
        c: (f32, f32),
        /// Mean radius.
        r: f32,
        /// `(amplitude, phase)` of harmonics 2, 3, 4, ...
        harmonics: Vec<(f32, f32)>,
    },
    /// A simple star-shaped polygon.
    Polygon(Vec<(f32, f32)>),
    /// Strokes (a tree of thin segments).
    Strokes(Vec<Segment>),
    /// The union of several shapes.
    Union(Vec<Shape>),
}

impl Shape {
    /// A random blob around `c` with mean radius `r`.
    pub fn blob(rng: &mut impl Rng, c: (f32, f32), r: f32) -> Self {
        let harmonics = (0..3)
            .map(|k| {
                let amp = rng.random_range(0.0..0.25) / (1.0 + k as f32);
                (amp, rng.random_range(0.0..std::f32::consts::TAU))
            })
            .collect();
        Self::Blob { c, r, harmonics }
    }

    /// A random star-shaped polygon with 3 to 9 vertices.
    pub fn polygon(rng: &mut impl Rng, c: (f32, f32), r: f32) -> Self {
        let n = rng.random_range(3..10);
        let mut angles: Vec<f32> = (0..n)
            .map(|_| rng.random_range(0.0..std::f32::consts::TAU))
            .collect();
        angles.sort_by(f32::total_cmp);
        let pts = angles
            .iter()
            .map(|a| {
                let rr = r * rng.random_range(0.5..1.2);
                (c.0 + rr * a.cos(), c.1 + rr * a.sin())
            })
            .collect();
        Self::Polygon(pts)
    }

    /// A random tree of strokes growing from `root` with total reach about `r`.
    pub fn branches(rng: &mut impl Rng, root: (f32, f32), r: f32, half_width: (f32, f32)) -> Self {
        let mut segments = Vec::new();
        let angle = rng.random_range(0.0..std::f32::consts::TAU);
        grow(rng, root, angle, r * 0.5, half_width, 3, &mut segments);
        Self::Strokes(segments)
    }

    /// A blob with thin appendages (legs, antennae) that the mask must keep.
    pub fn blob_with_legs(
        rng: &mut impl Rng,
        c: (f32, f32),
        r: f32,
        half_width: (f32, f32),
    ) -> Self {
        let body_r = r * rng.random_range(0.35..0.55);
        let mut parts = vec![Self::blob(rng, c, body_r)];
        let mut legs = Vec::new();
        for _ in 0..rng.random_range(3..8) {
            let a: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let start = (c.0 + 0.8 * body_r * a.cos(), c.1 + 0.8 * body_r * a.sin());
            let length = r * rng.random_range(0.4..0.8);
            grow(rng, start, a, length, half_width, 2, &mut legs);
        }
        parts.push(Self::Strokes(legs));
        Self::Union(parts)
    }

    /// Whether the point `(x, y)` is inside.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        match self {
            Self::Blob { c, r, harmonics } => {
                let (dx, dy) = (x - c.0, y - c.1);
                let theta = dy.atan2(dx);
                let mut radius = *r;
                for (k, (amp, phase)) in harmonics.iter().enumerate() {
                    radius += r * amp * ((k as f32 + 2.0) * theta + phase).sin();
                }
                dx * dx + dy * dy < radius * radius
            }
            Self::Polygon(pts) => {
                let mut inside = false;
                let mut j = pts.len().wrapping_sub(1);
                for i in 0..pts.len() {
                    let (pi, pj) = (pts[i], pts[j]);
                    if (pi.1 > y) != (pj.1 > y)
                        && x < (pj.0 - pi.0) * (y - pi.1) / (pj.1 - pi.1) + pi.0
                    {
                        inside = !inside;
                    }
                    j = i;
                }
                inside
            }
            Self::Strokes(segments) => segments
                .iter()
                .any(|s| segment_distance(s, x, y) <= s.half_width),
            Self::Union(parts) => parts.iter().any(|p| p.contains(x, y)),
        }
    }

    /// A bounding box `(x0, y0, x1, y1)` that contains the shape.
    pub fn bounds(&self) -> (f32, f32, f32, f32) {
        match self {
            Self::Blob { c, r, harmonics } => {
                let reach = r * (1.0 + harmonics.iter().map(|h| h.0.abs()).sum::<f32>());
                (c.0 - reach, c.1 - reach, c.0 + reach, c.1 + reach)
            }
            Self::Polygon(pts) => pts.iter().fold(EMPTY, |b, p| extend(b, p.0, p.1, 0.0)),
            Self::Strokes(segments) => segments.iter().fold(EMPTY, |b, s| {
                let b = extend(b, s.a.0, s.a.1, s.half_width);
                extend(b, s.b.0, s.b.1, s.half_width)
            }),
            Self::Union(parts) => parts.iter().fold(EMPTY, |b, p| {
                let q = p.bounds();
                (b.0.min(q.0), b.1.min(q.1), b.2.max(q.2), b.3.max(q.3))
            }),
        }
    }

    /// Rasterises the shape shifted by `offset`, testing pixel centres.
    pub fn rasterise(&self, height: usize, width: usize, offset: (f32, f32)) -> Mask {
        let mut mask = Mask::zeros(height, width);
        let (x0, y0, x1, y1) = self.bounds();
        let clampx = |v: f32| (v + offset.0).clamp(0.0, width as f32) as usize;
        let clampy = |v: f32| (v + offset.1).clamp(0.0, height as f32) as usize;
        for y in clampy(y0.floor())..clampy(y1.ceil() + 1.0) {
            for x in clampx(x0.floor())..clampx(x1.ceil() + 1.0) {
                let (px, py) = (x as f32 + 0.5 - offset.0, y as f32 + 0.5 - offset.1);
                if self.contains(px, py) {
                    mask.set(x, y, true);
                }
            }
        }
        mask
    }
}

const EMPTY: (f32, f32, f32, f32) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);

fn extend(b: (f32, f32, f32, f32), x: f32, y: f32, pad: f32) -> (f32, f32, f32, f32) {
    (
        b.0.min(x - pad),
        b.1.min(y - pad),
        b.2.max(x + pad),
        b.3.max(y + pad),
    )
}

fn grow(
    rng: &mut impl Rng,
    start: (f32, f32),
    angle: f32,
    length: f32,
    half_width: (f32, f32),
    depth: u32,
    out: &mut Vec<Segment>,
) {
    // Each branch is a slightly bent polyline of three pieces, then forks.
    let mut p = start;
    let mut a = angle;
    let hw = rng.random_range(half_width.0..half_width.1);
    for _ in 0..3 {
        a += rng.random_range(-0.4..0.4);
        let q = (p.0 + length / 3.0 * a.cos(), p.1 + length / 3.0 * a.sin());
        out.push(Segment {
            a: p,
            b: q,
            half_width: hw,
        });
        p = q;
    }
    if depth > 1 {
        for _ in 0..rng.random_range(1..3) {
            let turn = rng.random_range(0.4..1.0) * if rng.random() { 1.0 } else { -1.0 };
            grow(rng, p, a + turn, length * 0.65, half_width, depth - 1, out);
        }
    }
}

fn segment_distance(s: &Segment, x: f32, y: f32) -> f32 {
    let (dx, dy) = (s.b.0 - s.a.0, s.b.1 - s.a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((x - s.a.0) * dx + (y - s.a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (px, py) = (s.a.0 + t * dx - x, s.a.1 + t * dy - y);
    (px * px + py * py).sqrt()
}
