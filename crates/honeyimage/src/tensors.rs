//! The bridge from `honeyimage_data::Dataset` (u8, NHWC, on the heap) to
//! libtorch tensors (f32 in [0, 1], NCHW, on the compute device). Converting
//! once up front keeps the training loop free of per-batch copies from Rust.
use honeyimage_data::Dataset;
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// Images and labels of a dataset as tensors on one device.
#[derive(Debug)]
pub struct TensorSet {
    /// `[n, c, h, w]` f32 in [0, 1].
    pub images: Tensor,
    /// `[n]` i64 class indices.
    pub labels: Tensor,
}

impl TensorSet {
    /// Converts a whole dataset.
    pub fn from_dataset(ds: &Dataset, device: Device) -> Result<Self> {
        ds.validate()?;
        let images = u8_nhwc_to_tensor(&ds.images, ds.len(), ds.height, ds.width, ds.channels, device)?;
        let labels: Vec<i64> = ds.labels.iter().map(|&l| l as i64).collect();
        Ok(TensorSet { images, labels: Tensor::from_slice(&labels).to_device(device) })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> TensorSet {
        let device = self.images.device();
        let t = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>()).to_device(device);
        TensorSet { images: self.images.index_select(0, &t), labels: self.labels.index_select(0, &t) }
    }

    /// Concatenates two sets.
    pub fn concat(&self, other: &TensorSet) -> TensorSet {
        TensorSet {
            images: Tensor::cat(&[&self.images, &other.images], 0),
            labels: Tensor::cat(&[&self.labels, &other.labels], 0),
        }
    }

    /// A shallow copy sharing storage.
    pub fn shallow_clone(&self) -> TensorSet {
        TensorSet { images: self.images.shallow_clone(), labels: self.labels.shallow_clone() }
    }
}

/// u8 NHWC pixels to an f32 NCHW tensor in [0, 1].
pub fn u8_nhwc_to_tensor(px: &[u8], n: usize, h: usize, w: usize, c: usize, device: Device) -> Result<Tensor> {
    if px.len() != n * h * w * c {
        return Err(Error::invalid("image buffer", format!("{} bytes for {n}x{h}x{w}x{c}", px.len())));
    }
    let t = Tensor::from_slice(px)
        .to_device(device)
        .view([n as i64, h as i64, w as i64, c as i64])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0;
    Ok(t.contiguous())
}

/// f32 NCHW tensor in [0, 1] to u8 NHWC pixels, rounding to nearest.
pub fn tensor_to_u8_nhwc(t: &Tensor) -> Result<Vec<u8>> {
    let q = (t.clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous().to_device(Device::Cpu);
    let numel = q.numel();
    let mut out = vec![0u8; numel];
    q.f_copy_data(&mut out, numel)?;
    Ok(out)
}

/// A 1-D f32 tensor to a Vec<f64>.
pub fn to_vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    let t = t.to_kind(Kind::Double).to_device(Device::Cpu).contiguous().view([-1]);
    Ok(Vec::<f64>::try_from(&t)?)
}
