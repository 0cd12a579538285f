//! The architectures the paper evaluates, written for small inputs
//! (CIFAR-style stems: a 3x3 stride-1 first convolution and no initial
//! max-pool), any channel count, input size and class count. Each builder
//! takes an `nn::Path` and returns the body, a `ModuleT` mapping normalised
//! images `[n, c, h, w]` to penultimate features `[n, d]`, and the linear
//! head mapping those to logits `[n, classes]`: the features are what
//! feature-space defences (spectral signatures) inspect.
//!
//! Convolutions compute in channels-last layout ([`Conv`]): the weights are
//! stored as usual (`[out, in, kh, kw]`, so saved models are unchanged),
//! but each forward pass hands oneDNN a channels-last view of them, which
//! makes its output, and every layer after it, channels-last. Max-pooling
//! and batch norm have vectorised kernels only in that layout on the CPU:
//! the small CNN's pooling was 41% of a bf16 training step in the default
//! layout (BENCHMARKS.md, "Channels-last"). The layout changes which
//! kernels run, not what they compute.
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A copy of `t` (`[n, c, h, w]`) with channels-last strides: the same
/// values, laid out `[n, h, w, c]` in memory; differentiable. (Permuting,
/// `contiguous()` and permuting back would return `t` itself when `c` or
/// `h * w` is 1, which libtorch then does not read as channels-last.)
pub fn channels_last(t: &Tensor) -> Tensor {
    let z = t.size();
    let (c, h, w) = (z[1], z[2], z[3]);
    let mut out = Tensor::empty_strided(&z, [h * w * c, 1, w * c, c], (t.kind(), t.device()));
    out.copy_(t);
    out
}

/// A 2-D convolution with zero padding whose output is channels-last (see
/// the module doc); same parameters, names and initialisation as
/// `nn::conv2d`.
#[derive(Debug)]
pub struct Conv {
    ws: Tensor,
    bs: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv {
    fn new(p: nn::Path, cin: i64, cout: i64, k: i64, cfg: nn::ConvConfig) -> Conv {
        let (stride, padding) = (cfg.stride, cfg.padding);
        let c = nn::conv2d(p, cin, cout, k, cfg);
        Conv { ws: c.ws, bs: c.bs, stride, padding }
    }
}

impl nn::Module for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (s, p) = (self.stride, self.padding);
        x.conv2d(&channels_last(&self.ws), self.bs.as_ref(), [s, s], [p, p], [1, 1], 1)
    }
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> Conv {
    Conv::new(p, cin, cout, k, nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() })
}

/// 3x3 convolution with bias and padding 1.
fn conv3_bias(p: nn::Path, cin: i64, cout: i64) -> Conv {
    Conv::new(p, cin, cout, 3, nn::ConvConfig { padding: 1, ..Default::default() })
}

fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, Default::default())
}

/// Two 3x3 conv blocks with batch norm and max-pooling, then two linear
/// layers: the fast default for runs on a laptop CPU.
/// Shapes: `[n, c, h, w] -> [n, w1, h/2, w/2] -> [n, 2w1, h/4, w/4] -> [n, 128] -> [n, k]`.
pub fn small_cnn(p: &nn::Path, c: i64, h: i64, w: i64, k: i64, width: i64) -> (impl ModuleT, nn::Linear) {
    let (w1, w2) = (width, 2 * width);
    let flat = w2 * (h / 4) * (w / 4);
    let body = nn::seq_t()
        .add(conv3_bias(p / "conv1", c, w1))
        .add(bn(p / "bn1", w1))
        .add_fn(|x| x.relu().max_pool2d_default(2))
        .add(conv3_bias(p / "conv2", w1, w2))
        .add(bn(p / "bn2", w2))
        .add_fn(|x| x.relu().max_pool2d_default(2).flatten(1, -1))
        .add(nn::linear(p / "fc1", flat, 128, Default::default()))
        .add_fn(|x| x.relu());
    (body, nn::linear(p / "fc2", 128, k, Default::default()))
}

fn basic_block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let conv1 = conv(&p / "conv1", cin, cout, 3, stride);
    let bn1 = bn(&p / "bn1", cout);
    let conv2 = conv(&p / "conv2", cout, cout, 3, 1);
    let bn2 = bn(&p / "bn2", cout);
    let shortcut = (stride != 1 || cin != cout)
        .then(|| (conv(&p / "down_conv", cin, cout, 1, stride), bn(&p / "down_bn", cout)));
    nn::func_t(move |x, train| {
        let y = x.apply(&conv1).apply_t(&bn1, train).relu().apply(&conv2).apply_t(&bn2, train);
        let s = match &shortcut {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + s).relu()
    })
}

/// ResNet-18 (He et al. 2016) with a CIFAR stem; `width` is the first
/// stage's channel count (64 in the paper).
pub fn resnet18(p: &nn::Path, c: i64, k: i64, width: i64) -> (impl ModuleT, nn::Linear) {
    let mut seq = nn::seq_t().add(conv(p / "stem", c, width, 3, 1)).add(bn(p / "stem_bn", width)).add_fn(|x| x.relu());
    let mut cin = width;
    for (stage, (mult, stride)) in [(1, 1), (2, 2), (4, 2), (8, 2)].into_iter().enumerate() {
        let cout = width * mult;
        for b in 0..2 {
            seq = seq.add(basic_block(p / format!("layer{}_{b}", stage + 1), cin, cout, if b == 0 { stride } else { 1 }));
            cin = cout;
        }
    }
    (seq.add_fn(|x| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1)), nn::linear(p / "fc", cin, k, Default::default()))
}

fn wide_block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> impl ModuleT {
    let bn1 = bn(&p / "bn1", cin);
    let conv1 = conv(&p / "conv1", cin, cout, 3, stride);
    let bn2 = bn(&p / "bn2", cout);
    let conv2 = conv(&p / "conv2", cout, cout, 3, 1);
    let shortcut = (stride != 1 || cin != cout).then(|| conv(&p / "shortcut", cin, cout, 1, stride));
    nn::func_t(move |x, train| {
        let o = x.apply_t(&bn1, train).relu();
        let y = o.apply(&conv1).apply_t(&bn2, train).relu().apply(&conv2);
        match &shortcut {
            Some(s) => y + o.apply(s),
            None => y + x,
        }
    })
}

/// Wide ResNet (Zagoruyko & Komodakis 2016), pre-activation blocks;
/// WRN-28-2 is `depth = 28`, `widen = 2`.
pub fn wide_resnet(p: &nn::Path, c: i64, k: i64, depth: i64, widen: i64) -> (impl ModuleT, nn::Linear) {
    let n = (depth - 4) / 6;
    let widths = [16, 16 * widen, 32 * widen, 64 * widen];
    let mut seq = nn::seq_t().add(conv(p / "stem", c, widths[0], 3, 1));
    let mut cin = widths[0];
    for g in 0..3 {
        for b in 0..n {
            let stride = if b == 0 && g > 0 { 2 } else { 1 };
            seq = seq.add(wide_block(p / format!("group{g}_{b}"), cin, widths[g + 1], stride));
            cin = widths[g + 1];
        }
    }
    let final_bn = bn(p / "final_bn", cin);
    let body = seq.add(nn::func_t(move |x, train| x.apply_t(&final_bn, train).relu().adaptive_avg_pool2d([1, 1]).flatten(1, -1)));
    (body, nn::linear(p / "fc", cin, k, Default::default()))
}

/// VGG-11 with batch norm (Simonyan & Zisserman 2015), CIFAR variant with a
/// single linear classifier. Pooling stops once the feature map is 1x1, so
/// 28x28 inputs work. `width` is the first block's channels (64 in the paper).
pub fn vgg11(p: &nn::Path, c: i64, h: i64, k: i64, width: i64) -> (impl ModuleT, nn::Linear) {
    let plan: [i64; 13] = [1, 0, 2, 0, 4, 4, 0, 8, 8, 0, 8, 8, 0];
    let mut seq = nn::seq_t();
    let (mut cin, mut size) = (c, h);
    for (i, &m) in plan.iter().enumerate() {
        if m == 0 {
            if size >= 2 {
                seq = seq.add_fn(|x| x.max_pool2d_default(2));
                size /= 2;
            }
        } else {
            let cout = width * m;
            let cv = conv3_bias(p / format!("conv{i}"), cin, cout);
            seq = seq.add(cv).add(bn(p / format!("bn{i}"), cout)).add_fn(|x| x.relu());
            cin = cout;
        }
    }
    (seq.add_fn(|x| x.adaptive_avg_pool2d([1, 1]).flatten(1, -1)), nn::linear(p / "fc", cin, k, Default::default()))
}

fn dense_layer(p: nn::Path, cin: i64, growth: i64) -> impl ModuleT {
    let bn1 = bn(&p / "bn1", cin);
    let conv1 = conv(&p / "conv1", cin, 4 * growth, 1, 1);
    let bn2 = bn(&p / "bn2", 4 * growth);
    let conv2 = conv(&p / "conv2", 4 * growth, growth, 3, 1);
    nn::func_t(move |x, train| {
        let y = x.apply_t(&bn1, train).relu().apply(&conv1).apply_t(&bn2, train).relu().apply(&conv2);
        Tensor::cat(&[x, &y], 1)
    })
}

/// DenseNet-121 (Huang et al. 2017): growth 32, blocks (6, 12, 24, 16),
/// bottleneck 4x, compression 0.5; CIFAR stem of `2 * growth` channels.
pub fn densenet121(p: &nn::Path, c: i64, h: i64, k: i64, growth: i64) -> (impl ModuleT, nn::Linear) {
    let mut ch = 2 * growth;
    let mut seq = nn::seq_t().add(conv(p / "stem", c, ch, 3, 1));
    let mut size = h;
    let blocks = [6, 12, 24, 16];
    for (bi, &n) in blocks.iter().enumerate() {
        for l in 0..n {
            seq = seq.add(dense_layer(p / format!("block{bi}_{l}"), ch, growth));
            ch += growth;
        }
        if bi + 1 < blocks.len() {
            let out = ch / 2;
            let tbn = bn(p / format!("trans{bi}_bn"), ch);
            let tconv = conv(p / format!("trans{bi}_conv"), ch, out, 1, 1);
            let pool = size >= 2;
            if pool {
                size /= 2;
            }
            seq = seq.add(nn::func_t(move |x, train| {
                let y = x.apply_t(&tbn, train).relu().apply(&tconv);
                if pool { y.avg_pool2d_default(2) } else { y }
            }));
            ch = out;
        }
    }
    let final_bn = bn(p / "final_bn", ch);
    let body = seq.add(nn::func_t(move |x, train| x.apply_t(&final_bn, train).relu().adaptive_avg_pool2d([1, 1]).flatten(1, -1)));
    (body, nn::linear(p / "fc", ch, k, Default::default()))
}

/// A small Vision Transformer (Dosovitskiy et al. 2021): patch embedding,
/// class token, learned positions, pre-norm blocks. Answers the paper's open
/// question on transformers at a size a CPU can train.
pub fn vit(p: &nn::Path, c: i64, h: i64, w: i64, k: i64, dim: i64) -> (impl ModuleT, nn::Linear) {
    let patch = if h % 4 == 0 && w % 4 == 0 { 4 } else { 1 };
    let tokens = (h / patch) * (w / patch) + 1;
    let heads = 4;
    let depth = 4;
    let embed = nn::conv2d(p / "patch", c, dim, patch, nn::ConvConfig { stride: patch, ..Default::default() });
    let cls = p.var("cls", &[1, 1, dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 });
    let pos = p.var("pos", &[1, tokens, dim], nn::Init::Randn { mean: 0.0, stdev: 0.02 });
    let mut blocks = Vec::new();
    for b in 0..depth {
        let q = p / format!("block{b}");
        let ln1 = nn::layer_norm(&q / "ln1", vec![dim], Default::default());
        let qkv = nn::linear(&q / "qkv", dim, 3 * dim, Default::default());
        let proj = nn::linear(&q / "proj", dim, dim, Default::default());
        let ln2 = nn::layer_norm(&q / "ln2", vec![dim], Default::default());
        let fc1 = nn::linear(&q / "fc1", dim, 2 * dim, Default::default());
        let fc2 = nn::linear(&q / "fc2", 2 * dim, dim, Default::default());
        blocks.push((ln1, qkv, proj, ln2, fc1, fc2));
    }
    let ln = nn::layer_norm(p / "ln", vec![dim], Default::default());
    let head = nn::linear(p / "head", dim, k, Default::default());
    let hd = dim / heads;
    let body = nn::func_t(move |x, _train| {
        let n = x.size()[0];
        let t = x.apply(&embed).flatten(2, -1).transpose(1, 2); // [n, t-1, dim]
        let mut t = Tensor::cat(&[&cls.expand([n, 1, dim], false), &t], 1) + &pos; // [n, t, dim]
        for (ln1, qkv, proj, ln2, fc1, fc2) in &blocks {
            let qkv = t.apply(ln1).apply(qkv).view([n, tokens, 3, heads, hd]).permute([2, 0, 3, 1, 4]);
            let (q, kk, v) = (qkv.get(0), qkv.get(1), qkv.get(2)); // [n, heads, t, hd]
            let att = (q.matmul(&kk.transpose(-2, -1)) / (hd as f64).sqrt()).softmax(-1, tch::Kind::Float);
            let o = att.matmul(&v).transpose(1, 2).reshape([n, tokens, dim]).apply(proj);
            t = t + o;
            let m = t.apply(ln2).apply(fc1).gelu("none").apply(fc2);
            t = t + m;
        }
        t.select(1, 0).apply(&ln)
    });
    (body, head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::Module;
    use tch::{Device, Kind};

    fn is_channels_last(t: &Tensor) -> bool {
        let (s, z) = (t.stride(), t.size());
        s[1] == 1 && s[3] == z[1] && s[2] == z[1] * z[3]
    }

    #[test]
    fn conv_computes_what_the_plain_convolution_does_in_channels_last_layout() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
        // One input channel (grey images) is the case a permuted copy gets wrong.
        for cin in [3, 1] {
            let (c, x) = crate::seeded(3, || {
                let c = Conv::new(vs.root() / format!("c{cin}"), cin, 8, 3, cfg);
                (c, Tensor::rand([4, cin, 9, 9], (Kind::Float, Device::Cpu)).set_requires_grad(true))
            });
            let plain = x.conv2d(&c.ws, c.bs.as_ref(), [2, 2], [1, 1], [1, 1], 1);
            let y = c.forward(&x);
            assert_eq!(y.size(), vec![4, 8, 5, 5]);
            assert!(is_channels_last(&y), "{cin} channels: strides {:?}", y.stride());
            assert!(!is_channels_last(&plain), "the reference must be the default layout");
            let diff = (&y - &plain).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "max difference {diff}");
            // Gradients reach the weights and the input as in the plain one.
            let grads = |out: &Tensor| {
                let g = Tensor::run_backward(&[out.sum(Kind::Float)], &[&c.ws, &x], false, false);
                (g[0].shallow_clone(), g[1].shallow_clone())
            };
            let ((gw, gx), (pw, px)) = (grads(&y), grads(&plain));
            assert!((gw - pw).abs().max().double_value(&[]) < 1e-4);
            assert!((gx - px).abs().max().double_value(&[]) < 1e-4);
            // The weights keep the default layout, so saved models are unchanged.
            assert!(c.ws.is_contiguous());
        }
        assert_eq!(vs.variables().len(), 4);
    }

    #[test]
    fn the_small_cnn_runs_channels_last_and_flattens_in_the_default_order() {
        let vs = nn::VarStore::new(Device::Cpu);
        let ((body, head), x) =
            crate::seeded(4, || (small_cnn(&vs.root(), 1, 8, 8, 10, 4), Tensor::rand([2, 1, 8, 8], (Kind::Float, Device::Cpu))));
        let f = body.forward_t(&x, false);
        assert_eq!(f.size(), vec![2, 128]);
        // The same weights through the default layout give the same features.
        let vars = vs.variables();
        let conv = |x: &Tensor, n: &str| x.conv2d(&vars[&format!("{n}.weight")], Some(&vars[&format!("{n}.bias")]), [1, 1], [1, 1], [1, 1], 1);
        let bn = |x: &Tensor, n: &str| {
            let g = |s: &str| vars.get(&format!("{n}.{s}")).map(|t| t.shallow_clone());
            x.batch_norm(g("weight"), g("bias"), g("running_mean"), g("running_var"), false, 0.1, 1e-5, false)
        };
        let y = bn(&conv(&x, "conv1"), "bn1").relu().max_pool2d_default(2);
        let y = bn(&conv(&y, "conv2"), "bn2").relu().max_pool2d_default(2).flatten(1, -1);
        let y = y.linear(&vars["fc1.weight"], Some(&vars["fc1.bias"])).relu();
        let diff = (&f - &y).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max difference {diff}");
        assert_eq!(head.ws.size(), vec![10, 128]);
    }
}
