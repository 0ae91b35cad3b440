//! The SAM v1 prompt encoder (`segment_anything/modeling/prompt_encoder.py`): random-Fourier
//! positional encoding, point / box-corner / padding embeddings, mask-prompt downscaling.

use crate::host::{HostReshape, gelu};
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig};
use burn::prelude::*;

use crate::common::LayerNorm2d;
use crate::config::SamConfig;
use crate::conv::conv_patchify;

/// Random-Fourier positional encoding (`pe_layer`), computed in f32 as the official code does.
#[derive(Module, Debug)]
pub struct PositionEmbeddingRandom<B: Backend> {
    /// Gaussian projection, `[2, embed_dim / 2]`.
    pub positional_encoding_gaussian_matrix: Param<Tensor<B, 2>>,
}

impl<B: Backend> PositionEmbeddingRandom<B> {
    /// `[sin(2 pi (2x - 1) G), cos(2 pi (2x - 1) G)]` for coordinates in `[0, 1]`.
    ///
    /// # Shapes
    /// - coords: `[b, n, 2]` -> `[b, n, embed_dim]`
    fn encode(&self, coords: Tensor<B, 3>) -> Tensor<B, 3> {
        let [b, n, _] = coords.dims();
        let g = self.positional_encoding_gaussian_matrix.val();
        let half = g.dims()[1];
        let proj = (coords * 2.0 - 1.0).host_reshape([b * n, 2]).matmul(g);
        let proj = (proj * (2.0 * std::f32::consts::PI)).host_reshape([b, n, half]);
        Tensor::cat(vec![proj.clone().sin(), proj.cos()], 2)
    }

    /// Dense encoding of the pixel-centre grid of an `h x w` embedding.
    ///
    /// # Shapes
    /// -> `[embed_dim, h, w]`
    pub fn forward_grid(&self, [h, w]: [usize; 2], device: &B::Device) -> Tensor<B, 3> {
        let matrix = self.positional_encoding_gaussian_matrix.val();
        crate::grid_pe_cache::cached_grid(&matrix, [h, w], || self.encode_grid([h, w], device))
    }

    fn encode_grid(&self, [h, w]: [usize; 2], device: &B::Device) -> Tensor<B, 3> {
        let coords: Vec<f32> = (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| [(x as f32 + 0.5) / w as f32, (y as f32 + 0.5) / h as f32])
            })
            .collect();
        let coords = Tensor::<B, 3>::from_data(TensorData::new(coords, [1, h * w, 2]), device);
        let pe = self.encode(coords); // [1, h*w, c]
        let c = pe.dims()[2];
        pe.host_reshape([h, w, c]).permute([2, 0, 1])
    }

    /// Encodes pixel coordinates `(x, y)` of the padded model input of size `[h, w]`.
    ///
    /// # Shapes
    /// - coords: `[b, n, 2]` -> `[b, n, embed_dim]`
    pub fn forward_with_coords(&self, coords: Tensor<B, 3>, [h, w]: [usize; 2]) -> Tensor<B, 3> {
        let device = coords.device();
        // Divide like torch (x / w), not multiply by 1 / w, to keep the last bit.
        let norm = Tensor::<B, 1>::from_floats([w as f32, h as f32], &device);
        self.encode(coords / norm.host_reshape([1, 1, 2]))
    }
}

/// Mask-prompt downscaling: conv, LN2d, GELU, conv, LN2d, GELU, 1x1 conv (`mask_downscaling.0..6`).
#[derive(Module, Debug)]
pub struct MaskDownscaling<B: Backend> {
    /// `.0`: `Conv2d(1, mask_in_chans / 4, k = s = 2)`.
    pub conv1: Conv2d<B>,
    /// `.1`.
    pub ln1: LayerNorm2d<B>,
    /// `.3`: `Conv2d(mask_in_chans / 4, mask_in_chans, k = s = 2)`.
    pub conv2: Conv2d<B>,
    /// `.4`.
    pub ln2: LayerNorm2d<B>,
    /// `.6`: `Conv2d(mask_in_chans, embed_dim, 1)`.
    pub conv3: Conv2d<B>,
}

/// Prompts in the coordinates of the padded model input, batched: one row per mask to predict.
#[derive(Clone, Debug)]
pub struct Prompts<B: Backend> {
    /// Points `[b, n, 2]` as `(x, y)` pixels and labels `[b, n]`: 1 foreground, 0 background,
    /// 2 / 3 box corners (top-left / bottom-right), -1 padding.
    pub points: Option<(Tensor<B, 3>, Tensor<B, 2, Int>)>,
    /// Boxes `[b, 4]` as `x0, y0, x1, y1` pixels.
    pub boxes: Option<Tensor<B, 2>>,
    /// Low-resolution mask logits `[b, 1, 4E, 4E]` (a previous prediction).
    pub masks: Option<Tensor<B, 4>>,
}

impl<B: Backend> Prompts<B> {
    /// Number of masks these prompts ask for, or an error naming the disagreeing shapes.
    pub fn batch_size(&self) -> Result<usize, String> {
        let sizes: Vec<(&str, usize)> = [
            self.points.as_ref().map(|(p, _)| ("points", p.dims()[0])),
            self.points.as_ref().map(|(_, l)| ("labels", l.dims()[0])),
            self.boxes.as_ref().map(|b| ("boxes", b.dims()[0])),
            self.masks.as_ref().map(|m| ("masks", m.dims()[0])),
        ]
        .into_iter()
        .flatten()
        .collect();
        match sizes.first() {
            None => Err("a prompt needs points, a box or a mask".into()),
            Some(&(_, b)) if sizes.iter().all(|&(_, s)| s == b) => Ok(b),
            _ => Err(format!("prompt batch sizes disagree: {sizes:?}")),
        }
    }
}

/// The prompt encoder.
#[derive(Module, Debug)]
pub struct PromptEncoder<B: Backend> {
    /// Positional encoding.
    pub pe_layer: PositionEmbeddingRandom<B>,
    /// Label embeddings: 0 background, 1 foreground, 2 / 3 box corners.
    pub point_embeddings: Vec<Embedding<B>>,
    /// Embedding of the padding point (label -1).
    pub not_a_point_embed: Embedding<B>,
    /// Mask-prompt downscaling.
    pub mask_downscaling: MaskDownscaling<B>,
    /// Dense embedding used when no mask prompt is given.
    pub no_mask_embed: Embedding<B>,
    embed_dim: usize,
    image_embedding_size: [usize; 2],
    input_image_size: [usize; 2],
}

impl<B: Backend> PromptEncoder<B> {
    /// A prompt encoder with default-initialised weights for the geometry of `c`.
    pub fn new(c: &SamConfig, device: &B::Device) -> Self {
        let d = c.prompt_embed_dim;
        let m = c.mask_in_chans;
        let emb = || EmbeddingConfig::new(1, d).init(device);
        let conv = |i: usize, o: usize, k: usize| {
            Conv2dConfig::new([i, o], [k, k])
                .with_stride([k, k])
                .init(device)
        };
        Self {
            pe_layer: PositionEmbeddingRandom {
                positional_encoding_gaussian_matrix: Param::from_tensor(Tensor::zeros(
                    [2, d / 2],
                    device,
                )),
            },
            point_embeddings: (0..4).map(|_| emb()).collect(),
            not_a_point_embed: emb(),
            mask_downscaling: MaskDownscaling {
                conv1: conv(1, m / 4, 2),
                ln1: LayerNorm2d::new(m / 4, 1e-6, device),
                conv2: conv(m / 4, m, 2),
                ln2: LayerNorm2d::new(m, 1e-6, device),
                conv3: conv(m, d, 1),
            },
            no_mask_embed: emb(),
            embed_dim: d,
            image_embedding_size: c.image_embedding_size,
            input_image_size: [c.img_size, c.img_size],
        }
    }

    /// The dense positional encoding of the image embedding grid (`get_dense_pe`).
    ///
    /// # Shapes
    /// -> `[1, embed_dim, E, E]`
    pub fn get_dense_pe(&self, device: &B::Device) -> Tensor<B, 4> {
        self.pe_layer
            .forward_grid(self.image_embedding_size, device)
            .unsqueeze()
    }

    fn label_embedding(&self, i: usize) -> Tensor<B, 3> {
        self.point_embeddings[i]
            .weight
            .val()
            .host_reshape([1, 1, self.embed_dim])
    }

    /// Embeds points; appends a padding point when no box follows (`pad`).
    fn embed_points(
        &self,
        points: Tensor<B, 3>,
        labels: Tensor<B, 2, Int>,
        pad: bool,
    ) -> Tensor<B, 3> {
        let device = points.device();
        let [b, _, _] = points.dims();
        let mut points = points + 0.5;
        let mut labels = labels;
        if pad {
            points = Tensor::cat(vec![points, Tensor::zeros([b, 1, 2], &device)], 1);
            labels = Tensor::cat(
                vec![labels, Tensor::<B, 2, Int>::ones([b, 1], &device).neg()],
                1,
            );
        }
        let pe = self
            .pe_layer
            .forward_with_coords(points, self.input_image_size);
        let is = |l: i64| labels.clone().equal_elem(l).float().unsqueeze_dim::<3>(2);
        let pad_mask = is(-1);
        let not_a_point = self
            .not_a_point_embed
            .weight
            .val()
            .host_reshape([1, 1, self.embed_dim]);
        let mut out = pe * (pad_mask.clone().neg() + 1.0) + pad_mask * not_a_point;
        for l in 0..4 {
            out = out + is(l as i64) * self.label_embedding(l);
        }
        out
    }

    /// Embeds boxes as their two corners.
    fn embed_boxes(&self, boxes: Tensor<B, 2>) -> Tensor<B, 3> {
        let b = boxes.dims()[0];
        let corners = (boxes + 0.5).host_reshape([b, 2, 2]);
        let pe = self
            .pe_layer
            .forward_with_coords(corners, self.input_image_size);
        let labels = Tensor::cat(vec![self.label_embedding(2), self.label_embedding(3)], 1);
        pe + labels
    }

    /// [`Self::forward`] for a decoder run against an image embedding of batch `image_batch`:
    /// with one image and no mask prompt the dense embedding (`no_mask_embed`, the same for
    /// every prompt set) is left at batch 1, so the decoder shares its image-side work across
    /// the batch.
    ///
    /// # Shapes
    /// -> sparse `[b, n, embed_dim]`, dense `[b or 1, embed_dim, E, E]`
    pub fn forward_shared(
        &self,
        prompts: &Prompts<B>,
        b: usize,
        image_batch: usize,
    ) -> (Option<Tensor<B, 3>>, Tensor<B, 4>) {
        let (sparse, dense) = self.forward(prompts, b);
        match (image_batch, &prompts.masks, sparse.is_some()) {
            (1, None, true) => {
                let [_, d, h, w] = dense.dims();
                (sparse, dense.slice([0..1, 0..d, 0..h, 0..w]))
            }
            _ => (sparse, dense),
        }
    }

    /// Sparse (points, box corners) and dense (mask) prompt embeddings.
    ///
    /// # Shapes
    /// -> sparse `[b, n, embed_dim]` (None without points and boxes), dense `[b, embed_dim, E, E]`
    pub fn forward(&self, prompts: &Prompts<B>, b: usize) -> (Option<Tensor<B, 3>>, Tensor<B, 4>) {
        let mut sparse = Vec::new();
        if let Some((points, labels)) = &prompts.points {
            sparse.push(self.embed_points(points.clone(), labels.clone(), prompts.boxes.is_none()));
        }
        if let Some(boxes) = &prompts.boxes {
            sparse.push(self.embed_boxes(boxes.clone()));
        }
        let sparse = (!sparse.is_empty()).then(|| Tensor::cat(sparse, 1));
        let dense = match &prompts.masks {
            Some(masks) => {
                let md = &self.mask_downscaling;
                let x = gelu(md.ln1.forward(conv_patchify(&md.conv1, masks.clone())));
                let x = gelu(md.ln2.forward(conv_patchify(&md.conv2, x)));
                conv_patchify(&md.conv3, x)
            }
            None => {
                let [h, w] = self.image_embedding_size;
                self.no_mask_embed
                    .weight
                    .val()
                    .host_reshape([1, self.embed_dim, 1, 1])
                    .expand([b, self.embed_dim, h, w])
            }
        };
        (sparse, dense)
    }
}
