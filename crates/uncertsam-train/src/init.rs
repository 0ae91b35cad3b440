//! Seeded from-scratch initialisation of every SAM weight.
//!
//! `Sam::new` gives burn's default initialisers, drawn lazily from the backend's global RNG (not
//! reproducible across thread interleavings) and leaves `pos_embed`, the relative-position
//! tables and the random-Fourier matrix at zero. [`init_weights`] redraws every float parameter
//! from one ChaCha stream, in the module's field order, by the type of the layer that owns it:
//!
//! | parameter | draw |
//! |---|---|
//! | `Linear` / `Conv2d` weights | `N(0, 1 / fan_in)` (fan_in = inputs x kernel area) |
//! | `ConvTranspose2d` weights (`[in, out, k, k]`) | `N(0, 1 / in)` (k = stride: one tap per output) |
//! | biases | 0 |
//! | `LayerNorm` / `LayerNorm2d` | scale 1, shift 0 |
//! | `Embedding` (point labels, tokens, no-mask) | `N(0, 1)` like PyTorch |
//! | `pos_embed`, `rel_pos_h`, `rel_pos_w` | `N(0, 0.02^2)` |
//! | `positional_encoding_gaussian_matrix` | `N(0, 1)` (the official `scale = 1`), **frozen** |
//! | SAM 2's `conv_s0` / `conv_s1` weights (the decoder's high-res features) | 0 (see below) |
//!
//! The random-Fourier matrix is returned with `require_grad = false`, so the optimiser never
//! sees a gradient for it and it stays fixed, as in the official code (a buffer there).
//!
//! SAM 2's high-resolution projections start at zero so the decoder starts as SAM v1's (no
//! high-res features); [`crate::sam2_step`] keeps them there for the warm-up, then they train.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Field name of the frozen random-Fourier matrix.
pub const PE_MATRIX: &str = "positional_encoding_gaussian_matrix";

/// What a mapper does with the parameters it visits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeRule {
    /// Draw the random-Fourier matrix anew (`N(0, 1)`, frozen).
    Draw,
    /// Keep its current value (frozen): ensemble members share the main model's encoding.
    Keep,
}

/// Redraws every float parameter of `module` from a ChaCha stream seeded with `seed`.
pub fn init_weights<B: Backend, M: Module<B>>(module: M, seed: u64, pe: PeRule) -> M {
    let mut mapper = SeededInit {
        rng: ChaCha8Rng::seed_from_u64(seed),
        stack: Vec::new(),
        pe,
        keep_values: false,
    };
    module.map(&mut mapper)
}

struct SeededInit {
    rng: ChaCha8Rng,
    /// `(field name, owner container type)` of the path being visited.
    stack: Vec<(String, String)>,
    pe: PeRule,
    /// Keep every value; only set which parameters train ([`trainable`]).
    keep_values: bool,
}

/// One standard normal draw (Box-Muller; keeps the dependency list short).
pub(crate) fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

enum Draw {
    Const(f32),
    Normal(f32),
    Keep,
}

impl SeededInit {
    fn rule(&self, shape: &[usize]) -> (Draw, bool) {
        let (name, owner) = match self.stack.last() {
            Some((n, o)) => (n.as_str(), o.as_str()),
            None => ("", ""),
        };
        let owner = owner.strip_prefix("Struct:").unwrap_or(owner);
        let fan_in = |dims: &[usize]| dims.iter().product::<usize>().max(1) as f32;
        if name == PE_MATRIX {
            let d = match self.pe {
                PeRule::Draw => Draw::Normal(1.0),
                PeRule::Keep => Draw::Keep,
            };
            return (d, false);
        }
        let high_res = self
            .stack
            .iter()
            .any(|(n, _)| n == "conv_s0" || n == "conv_s1");
        let draw = match (owner, name) {
            (_, "weight") if high_res => Draw::Const(0.0),
            ("LayerNorm" | "LayerNorm2d", "gamma" | "weight") => Draw::Const(1.0),
            (_, "bias" | "beta") => Draw::Const(0.0),
            ("Linear", "weight") => Draw::Normal(fan_in(&shape[..1]).powf(-0.5)),
            ("Conv2d", "weight") => Draw::Normal(fan_in(&shape[1..]).powf(-0.5)),
            ("ConvTranspose2d", "weight") => Draw::Normal(fan_in(&shape[..1]).powf(-0.5)),
            ("Embedding", "weight") => Draw::Normal(1.0),
            (_, "pos_embed" | "rel_pos_h" | "rel_pos_w") => Draw::Normal(0.02),
            // Anything else (none in SAM v1): a small normal.
            _ => Draw::Normal(0.02),
        };
        (draw, true)
    }
}

impl<B: Backend> ModuleMapper<B> for SeededInit {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_owned(), container_type.to_owned()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.dims();
        let n: usize = shape.iter().product();
        let (draw, trainable) = self.rule(&shape);
        let draw = if self.keep_values { Draw::Keep } else { draw };
        let device = tensor.device();
        let value = match draw {
            Draw::Keep => tensor.detach(),
            Draw::Const(c) => Tensor::full(shape, c, &device),
            Draw::Normal(std) => {
                let v: Vec<f32> = (0..n).map(|_| normal(&mut self.rng) * std).collect();
                Tensor::from_data(TensorData::new(v, shape), &device)
            }
        };
        let value = if trainable {
            value.require_grad()
        } else {
            value.set_require_grad(false)
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

/// Keeps every value of `module` (e.g. loaded from a checkpoint to fine-tune) and sets what
/// [`init_weights`] sets: every float parameter trainable except the random-Fourier matrix,
/// which stays frozen.
pub fn trainable<B: Backend, M: Module<B>>(module: M) -> M {
    let mut mapper = SeededInit {
        rng: ChaCha8Rng::seed_from_u64(0),
        stack: Vec::new(),
        pe: PeRule::Keep,
        keep_values: true,
    };
    module.map(&mut mapper)
}
