//! `SampleSource`: what both layouts offer a benchmark, and the streaming `Samples` iterator.

use crate::datasets::eval_scale;
use crate::error::DataError;
use crate::sample::Sample;

/// A split of a dataset whose samples can be loaded one at a time, in a fixed order.
///
/// Loading decodes one image and its masks; nothing decoded is kept, so memory does not grow
/// with the dataset. A bad sample is an `Err` for that index only.
pub trait SampleSource {
    /// Dataset name.
    fn dataset(&self) -> &str;

    /// Number of samples (image files, including ones that will fail to load).
    fn len(&self) -> usize;

    /// Whether the split has no images.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loads sample `index` (0-based, in the split's order).
    fn get(&self, index: usize) -> Result<Sample, DataError>;

    /// The image id of sample `index` without loading it, also for a sample that fails to
    /// load when its id is known (so a bad sample can be recorded with its image). `None`
    /// when the index is out of range or the id is unknown (the default).
    fn image_id(&self, index: usize) -> Option<u64> {
        let _ = index;
        None
    }

    /// How many masks sample `index` asks for, whether or not it loads: its annotations (or
    /// mask files), 1 for an annotation or a mask file that fails on its own, 0 for a file that
    /// cannot be matched to annotations. A run sums it to say how many masks were requested
    /// against how many were evaluated. `None` when unknown (the default).
    fn masks_requested(&self, index: usize) -> Option<usize> {
        let _ = index;
        None
    }

    /// Scale at which the benchmark computes metrics for this dataset (0.5 for BIG).
    fn eval_scale(&self) -> f32 {
        eval_scale(self.dataset())
    }

    /// Streams all samples in order, one `Result` per image.
    fn samples(&self) -> Samples<'_, Self>
    where
        Self: Sized,
    {
        Samples {
            source: self,
            next: 0,
        }
    }
}

/// Iterator over a [`SampleSource`]'s samples; see [`SampleSource::samples`].
#[derive(Debug)]
pub struct Samples<'a, S: ?Sized> {
    source: &'a S,
    next: usize,
}

impl<'a, S: SampleSource + ?Sized> Samples<'a, S> {
    /// Streams the samples of any source, including a `dyn SampleSource`.
    pub fn new(source: &'a S) -> Self {
        Self { source, next: 0 }
    }
}

impl<S: SampleSource + ?Sized> Iterator for Samples<'_, S> {
    type Item = Result<Sample, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.source.len() {
            return None;
        }
        self.next += 1;
        Some(self.source.get(self.next - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.source.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<S: SampleSource + ?Sized> ExactSizeIterator for Samples<'_, S> {}
