//! Criterion benches of the SAM model; see `benches/sam.rs` and `pytorch_reference.py`, which
//! times the official PyTorch code on the same inputs so that the ratio is the figure.
