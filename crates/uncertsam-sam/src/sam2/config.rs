//! `Sam2Config`: the geometry of a SAM 2 image model, with the official presets.
//!
//! Field names are the official hydra config keys (`configs/sam2/sam2_hiera_*.yaml`): the
//! trunk's `Hiera(...)` arguments under `hiera`, the neck's `d_model`, `fpn_top_down_levels`
//! and the image encoder's `scalp`. The SAM heads are fixed by `SAM2Base._build_sam_heads`
//! (decoder MLP 2048, 8 heads, IoU head 256 x 3, 16 mask channels, backbone stride 16).

use serde::{Deserialize, Serialize};

use crate::config::SamConfig;

/// The Hiera trunk (`sam2/modeling/backbones/hieradet.py`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HieraConfig {
    /// Width of stage 1 (doubled at each later stage by `dim_mul`).
    pub embed_dim: usize,
    /// Heads of stage 1 (multiplied by `head_mul` at each stage).
    pub num_heads: usize,
    /// Blocks per stage.
    pub stages: Vec<usize>,
    /// Blocks with global attention.
    pub global_att_blocks: Vec<usize>,
    /// Window side per stage (a q-pool block uses the previous stage's window).
    pub window_spec: Vec<usize>,
    /// Side of the background position embedding, resized bicubically to the grid.
    pub window_pos_embed_bkg_spatial_size: [usize; 2],
    /// Number of stages that start with a q-pool block.
    #[serde(default = "default_q_pool")]
    pub q_pool: usize,
    /// Query pooling stride.
    #[serde(default = "default_q_stride")]
    pub q_stride: [usize; 2],
    /// Width multiplier at each stage change.
    #[serde(default = "default_mul")]
    pub dim_mul: f64,
    /// Head-count multiplier at each stage change.
    #[serde(default = "default_mul")]
    pub head_mul: f64,
}

/// Geometry of a SAM 2 image model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sam2Config {
    /// Side of the square model input (1024 for the official models).
    pub image_size: usize,
    /// The trunk.
    pub hiera: HieraConfig,
    /// Width of the FPN neck, prompt embeddings and mask decoder.
    pub d_model: usize,
    /// FPN levels that add the upsampled coarser level (`[2, 3]`).
    #[serde(default = "default_top_down")]
    pub fpn_top_down_levels: Vec<usize>,
    /// Coarsest FPN levels dropped (1: the decoder sees 3 levels).
    #[serde(default = "default_scalp")]
    pub scalp: usize,
    /// Stability offset of the dynamic multimask choice.
    #[serde(default = "default_delta")]
    pub dynamic_multimask_stability_delta: f32,
    /// Stability at or above which the single-mask output is kept.
    #[serde(default = "default_thresh")]
    pub dynamic_multimask_stability_thresh: f32,
    /// Logit threshold that turns logits into a binary mask.
    #[serde(default)]
    pub mask_threshold: f32,
}

fn default_q_pool() -> usize {
    3
}
fn default_q_stride() -> [usize; 2] {
    [2, 2]
}
fn default_mul() -> f64 {
    2.0
}
fn default_top_down() -> Vec<usize> {
    vec![2, 3]
}
fn default_scalp() -> usize {
    1
}
fn default_delta() -> f32 {
    0.05
}
fn default_thresh() -> f32 {
    0.98
}

impl Sam2Config {
    fn official(hiera: HieraConfig) -> Self {
        Self {
            image_size: 1024,
            hiera,
            d_model: 256,
            fpn_top_down_levels: default_top_down(),
            scalp: 1,
            dynamic_multimask_stability_delta: default_delta(),
            dynamic_multimask_stability_thresh: default_thresh(),
            mask_threshold: 0.0,
        }
    }

    fn hiera(
        embed_dim: usize,
        num_heads: usize,
        stages: &[usize],
        global: &[usize],
        window_spec: [usize; 4],
        bkg: usize,
    ) -> HieraConfig {
        HieraConfig {
            embed_dim,
            num_heads,
            stages: stages.to_vec(),
            global_att_blocks: global.to_vec(),
            window_spec: window_spec.to_vec(),
            window_pos_embed_bkg_spatial_size: [bkg, bkg],
            q_pool: 3,
            q_stride: [2, 2],
            dim_mul: 2.0,
            head_mul: 2.0,
        }
    }

    /// SAM 2 Hiera-T (`sam2_hiera_t.yaml`, `sam2_hiera_tiny.pt`).
    pub fn tiny() -> Self {
        Self::official(Self::hiera(
            96,
            1,
            &[1, 2, 7, 2],
            &[5, 7, 9],
            [8, 4, 14, 7],
            7,
        ))
    }

    /// SAM 2 Hiera-S (`sam2_hiera_s.yaml`, `sam2_hiera_small.pt`).
    pub fn small() -> Self {
        Self::official(Self::hiera(
            96,
            1,
            &[1, 2, 11, 2],
            &[7, 10, 13],
            [8, 4, 14, 7],
            7,
        ))
    }

    /// SAM 2 Hiera-B+ (`sam2_hiera_b+.yaml`, `sam2_hiera_base_plus.pt`).
    pub fn base_plus() -> Self {
        Self::official(Self::hiera(
            112,
            2,
            &[2, 3, 16, 3],
            &[12, 16, 20],
            [8, 4, 14, 7],
            14,
        ))
    }

    /// SAM 2 Hiera-L (`sam2_hiera_l.yaml`, `sam2_hiera_large.pt`), the paper's model.
    pub fn large() -> Self {
        Self::official(Self::hiera(
            144,
            2,
            &[2, 6, 36, 4],
            &[23, 33, 43],
            [8, 4, 16, 8],
            7,
        ))
    }

    /// A preset by name: `tiny`, `small`, `base_plus` or `large`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "tiny" | "hiera_t" => Some(Self::tiny()),
            "small" | "hiera_s" => Some(Self::small()),
            "base_plus" | "hiera_b+" => Some(Self::base_plus()),
            "large" | "hiera_l" => Some(Self::large()),
            _ => None,
        }
    }

    /// Side of the image embedding grid (`image_size / 16`).
    pub fn embedding_side(&self) -> usize {
        self.image_size / 16
    }

    /// Side of the low-resolution mask logits (4x the embedding grid).
    pub fn low_res_side(&self) -> usize {
        4 * self.embedding_side()
    }

    /// The SAM v1 geometry of the shared prompt encoder.
    pub(crate) fn prompt_config(&self) -> SamConfig {
        let e = self.embedding_side();
        SamConfig {
            img_size: self.image_size,
            prompt_embed_dim: self.d_model,
            image_embedding_size: [e, e],
            mask_in_chans: 16,
            ..SamConfig::vit_b()
        }
    }

    /// Checks the geometry; returns a message naming the fields.
    pub fn validate(&self) -> Result<(), String> {
        let h = &self.hiera;
        let n = h.stages.len();
        if n != 4 || h.window_spec.len() != 4 || h.q_pool > 3 || h.q_stride != [2, 2] {
            return Err(format!(
                "hiera needs 4 stages and 4 windows, q_pool <= 3 and q_stride [2, 2]; got stages \
                 {:?}, window_spec {:?}, q_pool {}, q_stride {:?}",
                h.stages, h.window_spec, h.q_pool, h.q_stride
            ));
        }
        if h.q_pool != 3 || self.scalp != 1 || !self.image_size.is_multiple_of(32) {
            return Err(format!(
                "the image path needs q_pool 3, scalp 1 and image_size a multiple of 32 (stride \
                 16 embedding, stride 32 last stage); got q_pool {}, scalp {}, image_size {}",
                h.q_pool, self.scalp, self.image_size
            ));
        }
        let side = self.image_size / 4;
        if h.window_spec[0] == 0 || !side.is_multiple_of(h.window_spec[0]) {
            return Err(format!(
                "window_spec[0] {} must divide the stage-1 grid {side} (pos_embed_window is tiled)",
                h.window_spec[0]
            ));
        }
        let ends: Vec<usize> = h
            .stages
            .iter()
            .scan(0, |s, &d| {
                *s += d;
                Some(*s - 1)
            })
            .collect();
        for &e in &ends[..3] {
            let q = e + 1;
            if h.global_att_blocks.contains(&q) {
                return Err(format!(
                    "block {q} pools queries and cannot be global (official code divides by 0)"
                ));
            }
        }
        if !self.d_model.is_multiple_of(16) {
            return Err(format!("d_model {} must be a multiple of 16", self.d_model));
        }
        Ok(())
    }
}
