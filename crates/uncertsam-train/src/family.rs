//! [`TrainFamily`]: what one training run needs of a model family, for SAM v1 ([`SamV1`],
//! the step of [`crate::train`]) and SAM 2 ([`Sam2Family`], the step of [`crate::sam2_step`]).
//! [`crate::stages::run_family`] runs the same stages for either.

use std::path::Path;

use anyhow::Context as _;
use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use image::RgbImage;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uncertsam_sam::{Embedding, Sam, Sam2, Sam2Config, SamConfig, SamModel};

use crate::data::TrainImage;
use crate::finetune::{DEFAULT_FINETUNE, FinetuneSpec};
use crate::init::{PeRule, init_weights};

/// The inference copy of a family's training model.
pub type Inner<A, F> = <<F as TrainFamily<A>>::Model as AutodiffModule<A>>::InnerModule;

/// A model family the trainer can train: its model, geometry, loss step and files.
pub trait TrainFamily<A: AutodiffBackend> {
    /// The trainable model (`Sam<A>` or `Sam2<A>`).
    type Model: AutodiffModule<A> + Clone;
    /// Its geometry, as written to `config.json` and the manifest.
    type Config: Clone + std::fmt::Debug + Serialize + serde::de::DeserializeOwned;

    /// The name `uncertsam train --model` takes (`sam`, `sam2`).
    const NAME: &'static str;
    /// Training images of the main stage when `--images` is not given.
    const DEFAULT_IMAGES: usize = 200;
    /// Epochs of the main stage when `--epochs` is not given.
    const DEFAULT_EPOCHS: usize = 60;
    /// The fine-tuning stages when `--finetune` is not given.
    const DEFAULT_FINETUNE: &'static [FinetuneSpec] = &DEFAULT_FINETUNE;
    /// Whether a step runs each image of its batch on its own autodiff graph, side by side
    /// (`crate::train_loop`, "per-image graphs"), instead of the whole batch on one graph.
    const PER_IMAGE_GRAPHS: bool = false;

    /// The geometry of the embedded default.
    fn default_geometry() -> Self::Config;
    /// `config.json` of `config` (SAM 2 adds `"model_type": "sam2"`).
    fn config_json(config: &Self::Config) -> serde_json::Value;
    /// A model of `config` with placeholder weights.
    fn new_model(config: &Self::Config, device: &A::Device) -> anyhow::Result<Self::Model>;
    /// Loads a checkpoint of `config` for `--init`, trainable.
    fn load_trainable(
        config: &Self::Config,
        path: &Path,
        device: &A::Device,
    ) -> anyhow::Result<Self::Model>;
    /// Redraws the output heads of an ensemble member from `seed` (the hypernetwork MLPs of
    /// every mask token, the IoU head and, for SAM 2, the object-score head).
    fn reinit_heads(model: Self::Model, seed: u64) -> Self::Model;
    /// The high-resolution warm-up of a from-scratch main stage of `total` steps, given
    /// `--high-res-warmup` (a fraction of the stage): none for SAM v1, which has no such features.
    fn high_res_warmup_steps(_total: usize, _fraction: Option<f64>) -> usize {
        0
    }
    /// Embeds `images` with the (trainable) encoder.
    fn embed(model: &Self::Model, images: &[&RgbImage]) -> Vec<Embedding<A>>;
    /// The loss of one step on `items`, embedded as `embs`; `high_res_frozen` holds SAM 2's
    /// high-resolution features out of the gradient (the warm-up of
    /// [`crate::train::OptimSettings::high_res_warmup_steps`]; SAM v1 has none).
    fn step_loss(
        model: &Self::Model,
        embs: &[Embedding<A>],
        items: &[&TrainImage],
        rng: &mut ChaCha8Rng,
        high_res_frozen: bool,
    ) -> anyhow::Result<Tensor<A, 1>>;
    /// The borrowed inference view (for embedding caches and evaluation).
    fn view(model: &Inner<A, Self>) -> SamModel<'_, A::InnerBackend>;
    /// Saves an inference model with the official key names, atomically.
    fn save(model: &Inner<A, Self>, path: &Path) -> anyhow::Result<()>;
    /// Loads a saved inference model back (the run checks its checkpoint reloads).
    fn reload(config: &Self::Config, path: &Path, device: &A::Device) -> anyhow::Result<()>;
}

/// SAM v1 (`uncertsam train`, `fixtures/default`).
#[derive(Clone, Copy, Debug)]
pub struct SamV1;

/// SAM 2 (`uncertsam train --model sam2`, `fixtures/default-sam2`).
#[derive(Clone, Copy, Debug)]
pub struct Sam2Family;

impl<A: AutodiffBackend> TrainFamily<A> for SamV1 {
    type Model = Sam<A>;
    type Config = SamConfig;
    const NAME: &'static str = "sam";

    fn default_geometry() -> SamConfig {
        crate::geometry::default_geometry()
    }

    fn config_json(config: &SamConfig) -> serde_json::Value {
        serde_json::to_value(config).unwrap_or_default()
    }

    fn new_model(config: &SamConfig, device: &A::Device) -> anyhow::Result<Sam<A>> {
        Ok(Sam::new(config, device)?)
    }

    fn load_trainable(
        config: &SamConfig,
        path: &Path,
        device: &A::Device,
    ) -> anyhow::Result<Sam<A>> {
        let model = Sam::<A>::new(config, device)?
            .load_checkpoint(path)
            .with_context(|| format!("loading --init {}", path.display()))?;
        Ok(crate::init::trainable(model))
    }

    fn reinit_heads(mut model: Sam<A>, seed: u64) -> Sam<A> {
        let dec = &mut model.mask_decoder;
        dec.output_hypernetworks_mlps = init_weights(
            std::mem::take(&mut dec.output_hypernetworks_mlps),
            seed,
            PeRule::Keep,
        );
        dec.iou_prediction_head =
            init_weights(dec.iou_prediction_head.clone(), seed ^ 0x5eed, PeRule::Keep);
        model
    }

    fn embed(model: &Sam<A>, images: &[&RgbImage]) -> Vec<Embedding<A>> {
        model
            .embed_many(images, images.len())
            .into_iter()
            .map(Embedding::from)
            .collect()
    }

    fn step_loss(
        model: &Sam<A>,
        embs: &[Embedding<A>],
        items: &[&TrainImage],
        rng: &mut ChaCha8Rng,
        _high_res_frozen: bool,
    ) -> anyhow::Result<Tensor<A, 1>> {
        crate::train::step_loss(model, embs, items, rng)
    }

    fn view(model: &Sam<A::InnerBackend>) -> SamModel<'_, A::InnerBackend> {
        SamModel::Sam(model)
    }

    fn save(model: &Sam<A::InnerBackend>, path: &Path) -> anyhow::Result<()> {
        crate::io::save_with(path, |tmp| Ok(model.save_safetensors(tmp)?))
    }

    fn reload(config: &SamConfig, path: &Path, device: &A::Device) -> anyhow::Result<()> {
        Sam::<A::InnerBackend>::new(config, device)?.load_checkpoint(path)?;
        Ok(())
    }
}

/// `config.json` of a SAM 2 geometry: the official keys plus `"model_type": "sam2"`, which
/// `AnyConfig::from_json` reads.
#[derive(Serialize)]
struct Sam2Json<'a> {
    model_type: &'static str,
    #[serde(flatten)]
    config: &'a Sam2Config,
}

impl<A: AutodiffBackend> TrainFamily<A> for Sam2Family {
    type Model = Sam2<A>;
    type Config = Sam2Config;
    const NAME: &'static str = "sam2";
    // One stage on the whole split: at 0.30 s a step (per-image graphs on 2 cores; 0.41 s on
    // one graph), 14 400 steps fit the 90-minute budget with the ensemble. (Fifty epochs on 200 images, then fine-tuning on 800 and 1600, reached
    // 0.829 box IoU: each new stage's loss started well above the last one's end.)
    const DEFAULT_IMAGES: usize = 1600;
    const DEFAULT_EPOCHS: usize = 18;
    const DEFAULT_FINETUNE: &'static [FinetuneSpec] = &[];
    const PER_IMAGE_GRAPHS: bool = true;

    fn default_geometry() -> Sam2Config {
        crate::geometry::default_sam2_geometry()
    }

    fn config_json(config: &Sam2Config) -> serde_json::Value {
        serde_json::to_value(Sam2Json {
            model_type: "sam2",
            config,
        })
        .unwrap_or_default()
    }

    fn new_model(config: &Sam2Config, device: &A::Device) -> anyhow::Result<Sam2<A>> {
        Ok(Sam2::new(config, device)?)
    }

    fn load_trainable(
        config: &Sam2Config,
        path: &Path,
        device: &A::Device,
    ) -> anyhow::Result<Sam2<A>> {
        let model = Sam2::<A>::new(config, device)?
            .load_checkpoint(path)
            .with_context(|| format!("loading --init {}", path.display()))?;
        Ok(crate::init::trainable(model))
    }

    fn reinit_heads(mut model: Sam2<A>, seed: u64) -> Sam2<A> {
        let dec = &mut model.sam_mask_decoder;
        dec.output_hypernetworks_mlps = init_weights(
            std::mem::take(&mut dec.output_hypernetworks_mlps),
            seed,
            PeRule::Keep,
        );
        dec.iou_prediction_head =
            init_weights(dec.iou_prediction_head.clone(), seed ^ 0x5eed, PeRule::Keep);
        dec.pred_obj_score_head =
            init_weights(dec.pred_obj_score_head.clone(), seed ^ 0x0b5c, PeRule::Keep);
        model
    }

    fn high_res_warmup_steps(total: usize, fraction: Option<f64>) -> usize {
        let f = fraction
            .unwrap_or(crate::sam2_step::HIGH_RES_WARMUP)
            .clamp(0.0, 1.0);
        (total as f64 * f).round() as usize
    }

    fn embed(model: &Sam2<A>, images: &[&RgbImage]) -> Vec<Embedding<A>> {
        images.iter().map(|i| model.embed(i).into()).collect()
    }

    fn step_loss(
        model: &Sam2<A>,
        embs: &[Embedding<A>],
        items: &[&TrainImage],
        rng: &mut ChaCha8Rng,
        high_res_frozen: bool,
    ) -> anyhow::Result<Tensor<A, 1>> {
        crate::sam2_step::step_loss(model, embs, items, rng, high_res_frozen)
    }

    fn view(model: &Sam2<A::InnerBackend>) -> SamModel<'_, A::InnerBackend> {
        SamModel::Sam2(model)
    }

    fn save(model: &Sam2<A::InnerBackend>, path: &Path) -> anyhow::Result<()> {
        crate::io::save_with(path, |tmp| Ok(model.save_safetensors(tmp)?))
    }

    fn reload(config: &Sam2Config, path: &Path, device: &A::Device) -> anyhow::Result<()> {
        Sam2::<A::InnerBackend>::new(config, device)?.load_checkpoint(path)?;
        Ok(())
    }
}

/// An inference-backend embedding on the autodiff backend (a frozen-encoder cache entry).
pub fn embedding_from_inner<A: AutodiffBackend>(e: &Embedding<A::InnerBackend>) -> Embedding<A> {
    Embedding {
        image: uncertsam_sam::ImageEmbedding {
            embeddings: Tensor::from_inner(e.image.embeddings.clone()),
            input_size: e.image.input_size,
            original_size: e.image.original_size,
        },
        high_res_features: e
            .high_res_features
            .clone()
            .map(|hr| hr.map(Tensor::from_inner)),
    }
}
