//! radpipe's own AdamW over burn tensors: moments keyed by PaddleSeg parameter name (so they survive
//! reloading the model and fit in a checkpoint), and one training step (forward, loss, backward,
//! update).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Gradients, Tensor};

use crate::seg::bisenet::BiSeNetV2;
use crate::seg::loss::{LossWeights, total_loss};
use crate::seg::weights::paddle_name;
use crate::{Error, Result};

/// AdamW moments by PaddleSeg parameter name (flattened).
#[derive(Debug, Default)]
pub struct AdamState {
    pub(super) moments: HashMap<String, (Tensor<1>, Tensor<1>)>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

struct AdamStep<'a> {
    state: &'a mut AdamState,
    grads: &'a mut Gradients,
    path: Vec<String>,
    lr: f64,
    weight_decay: f64,
    /// 1-based step count for the bias correction.
    t: u64,
    updated: usize,
}

impl ModuleMapper for AdamStep<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.is_require_grad() {
            return param;
        }
        let name = paddle_name(&self.path.join("."));
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = tensor.grad_remove(self.grads) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let p = tensor.inner();
        let dims = p.dims();
        let numel: usize = dims.iter().product();
        let (m, v) = match self.state.moments.remove(&name) {
            Some((m, v)) => (m.reshape(dims), v.reshape(dims)),
            None => (p.zeros_like(), p.zeros_like()),
        };
        let m = m.mul_scalar(BETA1) + grad.clone().mul_scalar(1.0 - BETA1);
        let v = v.mul_scalar(BETA2) + grad.square().mul_scalar(1.0 - BETA2);
        let t = self.t as i32;
        let m_hat = 1.0 / (1.0 - BETA1.powi(t));
        let v_hat = 1.0 / (1.0 - BETA2.powi(t));
        let update = m.clone().mul_scalar(self.lr * m_hat)
            / v.clone().mul_scalar(v_hat).sqrt().add_scalar(EPS);
        let decayed = if D == 4 && self.weight_decay > 0.0 {
            p.mul_scalar(1.0 - self.lr * self.weight_decay)
        } else {
            p
        };
        let next = Tensor::from_inner(decayed - update).require_grad();
        self.state
            .moments
            .insert(name, (m.reshape([numel]), v.reshape([numel])));
        self.updated += 1;
        Param::from_mapped_value(id, next, mapper)
    }
}

/// One AdamW update's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// Learning rate of this step.
    pub lr: f64,
    /// Decoupled weight decay (convolution kernels only).
    pub weight_decay: f64,
    /// 1-based step number (bias correction).
    pub t: u64,
}

/// One optimisation step on a batch: forward (training mode, all five heads), loss, backward, AdamW
/// update. Returns the updated model and the batch's loss; a non-finite loss leaves the model as it
/// was.
pub fn train_step(
    model: BiSeNetV2,
    adam: &mut AdamState,
    input: Tensor<4>,
    target: Tensor<3>,
    weights: LossWeights,
    opt: AdamW,
) -> Result<(BiSeNetV2, f32)> {
    let loss = total_loss(model.forward_train(input), target, weights);
    let value = tensor_values(loss.clone().inner())?
        .first()
        .copied()
        .unwrap_or(f32::NAN);
    let mut grads = loss.backward();
    if !value.is_finite() {
        return Ok((model, value));
    }
    let mut mapper = AdamStep {
        state: adam,
        grads: &mut grads,
        path: Vec::new(),
        lr: opt.lr,
        weight_decay: opt.weight_decay,
        t: opt.t,
        updated: 0,
    };
    let model = model.map(&mut mapper);
    if mapper.updated == 0 {
        return Err(Error::InvalidParams(
            "no parameter received a gradient: the model is not on an autodiff device".into(),
        ));
    }
    Ok((model, value))
}

pub(super) fn tensor_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.try_into_data()
        .map_err(|e| Error::Gpu(format!("reading a tensor: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Gpu(format!("tensor is not f32: {e:?}")))
}
