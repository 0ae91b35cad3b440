//! Last-layer Laplace approximation for SAM's mask decoder, on plain `f32`/`f64` slices.
//!
//! This crate owns the maths of the paper's best uncertainty method (spec §3.3) and its
//! principled fix: the GGN curvature of the token-0 hypernetwork's last `Linear(D → K)`
//! (per-pixel Bernoulli, or the paper's softmax over pixels), its storage (diagonal, KFAC,
//! full), the prior precision (fixed, marginal likelihood, grid search), the predictive
//! (closed-form probit, output-space MC, the paper's weight-space MC) and saving/loading.
//! It must not depend on burn or any other deep-learning framework: a model hands it, per mask,
//! the layer input `h` (length D) and the upscaled embedding `E` (row-major `K × N_pix`), and
//! gets maps back. Everything is checked against laplace-torch 0.3 fixtures
//! (`fixtures/laplace/generate.py`).
//!
//! laplace-torch's axes, one file each and no class lattice: [`features`] (which weights),
//! [`likelihood`] (which curvature), [`precision`] (how it is stored), [`prior`],
//! [`predictive`]; [`LastLayerLaplace`] composes them and [`Posterior`] predicts.
//!
//! Per mask, with a burn model supplying `h`, `E`, the MAP `W`, `b` and binary targets:
//! ```no_run
//! use rand_chacha::{ChaCha8Rng, rand_core::SeedableRng};
//! use uncertsam_laplace::{DiagPrecision, LastLayerLaplace, LayerShape, Likelihood, McOptions, PriorStructure};
//! # fn masks() -> Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> { vec![] }
//! let shape = LayerShape::new(256, 32)?;
//! let (w, b) = (vec![0.0f32; 32 * 256], vec![0.0f32; 32]);
//! let mut la = LastLayerLaplace::<DiagPrecision>::new(shape, Likelihood::BernoulliPixel, &w, &b)?;
//! for (h, e, target) in masks() {
//!     la.accumulate(&h, &e, Some(&target))?; // streaming, constant memory
//! }
//! la.optimize_prior_marglik(PriorStructure::Scalar)?;
//! let post = la.posterior()?;
//! for (h, e, _) in masks() {
//!     let zp = post.z_posterior(&h)?; // K-dim Gaussian of z = W h + b
//!     let probit = zp.probit(&e)?; // closed form, no sampling
//!     let mut rng = ChaCha8Rng::seed_from_u64(42);
//!     let mc = zp.mc(&e, McOptions { samples: 100, ..Default::default() }, &mut rng)?;
//!     println!("{} {}", probit.prob[0], mc.mutual_information[0]);
//! }
//! # Ok::<(), uncertsam_laplace::LaplaceError>(())
//! ```

mod error;
pub mod features;
mod io;
mod laplace;
pub mod likelihood;
pub mod precision;
pub mod predictive;
pub mod prior;

pub use error::{LaplaceError, Result};
pub use features::LayerShape;
pub use io::{CONFIG_FILE, TENSORS_FILE};
pub use laplace::{
    GridSearch, LastLayerLaplace, PRIOR_MAX, PRIOR_MIN, Posterior, ValidationExample,
};
pub use likelihood::Likelihood;
pub use precision::{DiagPrecision, FullPrecision, KronPrecision, PosteriorFactor, Precision};
pub use predictive::{McOptions, ProbitMaps, UncertaintyMaps, ZPosterior};
pub use prior::{PriorPrecision, PriorStructure};

#[cfg(test)]
mod tests;
