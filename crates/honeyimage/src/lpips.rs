//! LPIPS (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep
//! Features as a Perceptual Metric") with the AlexNet backbone, version 0.1:
//! the perceptual distance behind the paper's stealthiness score
//! STL = 1 - LPIPS.
//!
//! The weights cannot be downloaded at run time, so they come from a file
//! the user provides (`--lpips-weights`): a PyTorch state dict (`.pt`,
//! `.pth`) or safetensors file holding torchvision's AlexNet `features.*`
//! tensors and the LPIPS linear heads `lin0.model.1.weight` ..
//! `lin4.model.1.weight` (scripts/lpips_weights.py builds one from
//! torchvision's and the `lpips` package's files). The computation follows
//! the `lpips` package exactly; a test compares it with that package.
//!
//! Inputs are u8 images; grey images are repeated to three channels and
//! images whose shorter side is under 64 pixels are upsampled (bilinear) to
//! 64, since AlexNet's strides leave nothing of a 28x28 image.
use std::path::Path;

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// Shorter side images are upsampled to, when smaller.
pub const MIN_SIDE: i64 = 64;
const CHANNELS: [i64; 5] = [64, 192, 384, 256, 256];

/// The LPIPS network: AlexNet's five conv stages and a linear head per stage.
pub struct Lpips {
    _vs: nn::VarStore,
    convs: Vec<nn::Conv2D>,
    lins: Vec<nn::Conv2D>,
    shift: Tensor,
    scale: Tensor,
    device: Device,
}

impl std::fmt::Debug for Lpips {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lpips").field("device", &self.device).finish_non_exhaustive()
    }
}

fn build(vs: &nn::VarStore) -> (Vec<nn::Conv2D>, Vec<nn::Conv2D>) {
    let f = vs.root() / "features";
    let cfg = |stride, padding| nn::ConvConfig { stride, padding, ..Default::default() };
    let convs = vec![
        nn::conv2d(&f / "0", 3, 64, 11, cfg(4, 2)),
        nn::conv2d(&f / "3", 64, 192, 5, cfg(1, 2)),
        nn::conv2d(&f / "6", 192, 384, 3, cfg(1, 1)),
        nn::conv2d(&f / "8", 384, 256, 3, cfg(1, 1)),
        nn::conv2d(&f / "10", 256, 256, 3, cfg(1, 1)),
    ];
    let lins = CHANNELS
        .iter()
        .enumerate()
        .map(|(i, &c)| nn::conv2d(vs.root() / format!("lin{i}") / "model" / "1", c, 1, 1, nn::ConvConfig { bias: false, ..Default::default() }))
        .collect();
    (convs, lins)
}

impl Lpips {
    /// Loads the weights from a state dict or safetensors file.
    pub fn load(path: &Path, device: Device) -> Result<Lpips> {
        let mut vs = nn::VarStore::new(device);
        let (convs, lins) = build(&vs);
        if !path.is_file() {
            return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::NotFound, "no such LPIPS weights file")));
        }
        vs.load(path).map_err(|e| Error::Model { source_name: path.display().to_string(), message: format!("not LPIPS AlexNet weights: {e}") })?;
        vs.freeze();
        Ok(Self::with(vs, convs, lins, device))
    }

    /// A network with random weights (for tests and benchmarks only).
    pub fn random(device: Device, seed: u64) -> Lpips {
        let mut vs = nn::VarStore::new(device);
        let (convs, lins) = crate::seeded(seed, || build(&vs));
        tch::no_grad(|| {
            for l in &lins {
                let _ = l.ws.shallow_clone().abs_();
            }
        });
        vs.freeze();
        Self::with(vs, convs, lins, device)
    }

    fn with(vs: nn::VarStore, convs: Vec<nn::Conv2D>, lins: Vec<nn::Conv2D>, device: Device) -> Lpips {
        let shift = Tensor::from_slice(&[-0.030f32, -0.088, -0.188]).view([1, 3, 1, 1]).to_device(device);
        let scale = Tensor::from_slice(&[0.458f32, 0.448, 0.450]).view([1, 3, 1, 1]).to_device(device);
        Lpips { _vs: vs, convs, lins, shift, scale, device }
    }

    /// u8 HWC images -> `[n, 3, H, W]` in [-1, 1], upsampled if small.
    fn input(&self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Tensor> {
        if images.len() != n * h * w * c || !(c == 1 || c == 3) || h == 0 || w == 0 {
            return Err(Error::invalid("LPIPS input", format!("{} bytes for {n} images of {h}x{w}x{c}", images.len())));
        }
        let x = Tensor::from_slice(images).view([n as i64, h as i64, w as i64, c as i64]).permute([0, 3, 1, 2]).to_kind(Kind::Float).to_device(self.device);
        let x = x / 127.5 - 1.0;
        let x = if c == 1 { x.repeat([1, 3, 1, 1]) } else { x };
        let short = h.min(w) as i64;
        Ok(if short < MIN_SIDE {
            let (nh, nw) = ((h as i64 * MIN_SIDE).div_euclid(short), (w as i64 * MIN_SIDE).div_euclid(short));
            x.upsample_bilinear2d([nh, nw], false, None, None)
        } else {
            x
        })
    }

    fn features(&self, x: &Tensor) -> Vec<Tensor> {
        let x = (x - &self.shift) / &self.scale;
        let h1 = self.convs[0].forward(&x).relu();
        let h2 = self.convs[1].forward(&h1.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)).relu();
        let h3 = self.convs[2].forward(&h2.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)).relu();
        let h4 = self.convs[3].forward(&h3).relu();
        let h5 = self.convs[4].forward(&h4).relu();
        vec![h1, h2, h3, h4, h5]
    }

    /// LPIPS distance of each pair `(a[i], b[i])` of u8 HWC images.
    pub fn distance(&self, a: &[u8], b: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Vec<f64>> {
        let _guard = tch::no_grad_guard();
        let len = h * w * c;
        if a.len() != n * len || b.len() != n * len {
            return Err(Error::invalid("LPIPS input", format!("{} and {} bytes for {n} images of {h}x{w}x{c}", a.len(), b.len())));
        }
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(64) {
            let m = (n - start).min(64);
            let range = start * len..(start + m) * len;
            let (fa, fb) = (self.features(&self.input(&a[range.clone()], m, h, w, c)?), self.features(&self.input(&b[range], m, h, w, c)?));
            let mut total = Tensor::zeros([m as i64], (Kind::Float, self.device));
            for ((x, y), lin) in fa.iter().zip(&fb).zip(&self.lins) {
                let unit = |t: &Tensor| t / (t.square().sum_dim_intlist(1, true, Kind::Float).sqrt() + 1e-10);
                let d = (unit(x) - unit(y)).square();
                total += lin.forward(&d).mean_dim([1i64, 2, 3].as_slice(), false, Kind::Float);
            }
            out.extend(Vec::<f64>::try_from(total.to_kind(Kind::Double).to_device(Device::Cpu))?);
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("LPIPS distance of pair {i}")));
        }
        Ok(out)
    }
}
