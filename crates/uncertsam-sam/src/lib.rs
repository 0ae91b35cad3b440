//! The Segment Anything model family in burn: SAM v1 (ViT-B/L/H and any geometry).
//!
//! Owns the model, its pre- and post-processing and checkpoint loading.
//! Must not depend on any other uncertsam crate, and knows nothing of uncertainty.
