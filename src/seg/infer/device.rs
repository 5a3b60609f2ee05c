//! burn on the engine's own wgpu device: the per-engine device registry, a tensor's place in a wgpu
//! buffer (for the copies into and out of burn), and reading a tensor back to the host.

use std::sync::Mutex;

use burn::tensor::{Device, Tensor};

use crate::{Engine, Error, Result};

static SHARED_DEVICES: Mutex<Vec<(u64, Device)>> = Mutex::new(Vec::new());

/// The burn device running on `engine`'s own wgpu device and queue. Registered with burn once per
/// engine (burn's setup registration is not idempotent) and reused afterwards. Keyed by
/// [`Engine::uid`]: `wgpu::Device` equality compares ids that two engines' separate instances can
/// share, which once handed one engine the burn device of another (its tensors then lived on a
/// different device: "Cannot get non-existent resource" in wgpu-core).
pub fn burn_device(engine: &Engine) -> Result<Device> {
    let mut known = SHARED_DEVICES
        .lock()
        .map_err(|_| Error::Gpu("burn device registry poisoned".into()))?;
    if let Some((_, d)) = known.iter().find(|(uid, _)| *uid == engine.uid()) {
        return Ok(d.clone());
    }
    let (Some(instance), Some(adapter)) = (engine.instance(), engine.adapter()) else {
        return Err(Error::NoAdapter(
            "burn needs the wgpu instance and adapter as well as the device; this engine wraps a \
             host's device without them (use Engine::new, or the CPU backend)"
                .into(),
        ));
    };
    let setup = burn::tensor::wgpu::WgpuSetup {
        instance: instance.clone(),
        adapter: adapter.clone(),
        device: engine.device().clone(),
        queue: engine.queue().clone(),
        backend: adapter.get_info().backend,
    };
    let device = Device::wgpu_options()
        .setup(setup)
        .init()
        .map_err(|e| Error::Gpu(format!("registering the device with burn: {e}")))?;
    known.push((engine.uid(), device.clone()));
    Ok(device)
}

/// A burn tensor's place in a wgpu buffer, with a guard that keeps burn from reusing it.
pub(super) struct BurnSlice {
    pub(super) buffer: wgpu::Buffer,
    pub(super) offset: u64,
    pub(super) size: u64,
    _guard: Box<dyn std::any::Any>,
}

pub(super) fn burn_slice<const D: usize>(tensor: &Tensor<D>) -> Result<BurnSlice> {
    use burn::backend::Cube;
    use burn::cubecl::wgpu::{AutoCompiler, WgpuServer};
    let primitive = tensor
        .clone()
        .try_into_primitive::<Cube>()
        .map_err(|e| Error::Gpu(format!("burn tensor is not on a wgpu device: {e:?}")))?;
    let managed = primitive
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(primitive.handle.clone())
        .map_err(|e| Error::Gpu(format!("burn tensor buffer: {e:?}")))?;
    let r = managed.resource();
    Ok(BurnSlice {
        buffer: r.buffer.clone(),
        offset: r.offset,
        size: r.size,
        _guard: Box::new(managed),
    })
}

pub(super) fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .try_into_data()
        .map_err(|e| Error::Gpu(format!("reading network output: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::Gpu(format!("network output is not f32: {e:?}")))
}
