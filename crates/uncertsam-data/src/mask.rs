//! `Mask`: a binary instance mask stored row-major as one byte (0 or 1) per pixel.

/// A binary mask, row-major, one byte per pixel holding 0 or 1.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mask {
    height: usize,
    width: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mask")
            .field("height", &self.height)
            .field("width", &self.width)
            .field("area", &self.area())
            .finish()
    }
}

impl Mask {
    /// An all-background mask.
    pub fn zeros(height: usize, width: usize) -> Self {
        Self {
            height,
            width,
            data: vec![0; height * width],
        }
    }

    /// A mask from row-major bytes; any nonzero byte is foreground.
    ///
    /// Returns `None` when `data.len() != height * width`.
    pub fn from_vec(height: usize, width: usize, mut data: Vec<u8>) -> Option<Self> {
        if height.checked_mul(width) != Some(data.len()) {
            return None;
        }
        for v in &mut data {
            *v = u8::from(*v != 0);
        }
        Some(Self {
            height,
            width,
            data,
        })
    }

    /// A mask whose pixel `(x, y)` is `f(x, y)`.
    pub fn from_fn(height: usize, width: usize, mut f: impl FnMut(usize, usize) -> bool) -> Self {
        let mut data = Vec::with_capacity(height * width);
        for y in 0..height {
            for x in 0..width {
                data.push(u8::from(f(x, y)));
            }
        }
        Self {
            height,
            width,
            data,
        }
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Row-major pixels, 0 or 1.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The row-major pixel buffer, 0 or 1.
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// Whether pixel `(x, y)` is foreground; out-of-bounds pixels are background.
    pub fn get(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.height && self.data[y * self.width + x] != 0
    }

    /// Sets pixel `(x, y)`; out-of-bounds writes are ignored.
    pub fn set(&mut self, x: usize, y: usize, value: bool) {
        if x < self.width && y < self.height {
            self.data[y * self.width + x] = u8::from(value);
        }
    }

    /// Number of foreground pixels.
    pub fn area(&self) -> u64 {
        self.data.iter().map(|&v| u64::from(v)).sum()
    }

    /// Whether the mask has no foreground pixel.
    pub fn is_empty(&self) -> bool {
        self.data.iter().all(|&v| v == 0)
    }
}
