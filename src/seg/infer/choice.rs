//! Which device runs the network. `auto`, the default everywhere, runs it on the engine's own wgpu
//! device when that is a real GPU (shared with radpipe's shaders, no CPU trip) and on burn's CPU
//! backend when the adapter radpipe picked is a CPU adapter: on Mesa's lavapipe the network ran ~70×
//! slower than burn's Flex backend on the same cores (73 s against 1.1 s for four slices, identical
//! masks), so a machine without a GPU should never pay for emulating one. Every report says which
//! ran ([`DeviceUsed`]).

use super::Backend;
use crate::{Engine, Error, Result};

/// Where the network should run, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The engine's GPU when it is a real one, else burn's CPU backend (see the module docs).
    #[default]
    Auto,
    /// The engine's wgpu device, whatever the adapter (a CPU adapter too).
    Gpu,
    /// burn's CPU backend; needs no adapter at all.
    Cpu,
}

/// Which device ran the network, for reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceUsed {
    /// `"gpu"` (the engine's wgpu device) or `"cpu"` (burn's Flex backend).
    pub backend: &'static str,
    /// The adapter's name, or `"burn flex (CPU)"`.
    pub name: String,
    /// What was asked: `"auto"`, `"gpu"` or `"cpu"`.
    pub choice: DeviceChoice,
    /// Why this device: the choice, and for `auto` what the adapter is.
    pub reason: String,
}

/// The name [`DeviceUsed`] gives burn's CPU backend.
pub const CPU_BACKEND_NAME: &str = "burn flex (CPU)";

/// Adapter names of software rasterisers, for drivers that do not report their type as CPU.
const SOFTWARE_ADAPTERS: [&str; 4] = ["llvmpipe", "lavapipe", "swiftshader", "softpipe"];

/// Whether `info` describes a CPU adapter: wgpu's [`wgpu::DeviceType::Cpu`], or the name of a known
/// software rasteriser.
pub fn is_cpu_adapter(info: &wgpu::AdapterInfo) -> bool {
    let name = info.name.to_lowercase();
    info.device_type == wgpu::DeviceType::Cpu || SOFTWARE_ADAPTERS.iter().any(|s| name.contains(s))
}

impl DeviceChoice {
    /// The name used on the command line and in pipeline files.
    pub fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Gpu => "gpu",
            DeviceChoice::Cpu => "cpu",
        }
    }

    /// Parses `auto`, `gpu` or `cpu`.
    pub fn parse(s: &str) -> Result<DeviceChoice> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "gpu" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            other => Err(Error::InvalidParams(format!(
                "device '{other}': expected auto, gpu or cpu"
            ))),
        }
    }

    /// Whether this choice runs on the GPU for an engine on `info`'s adapter that burn can share
    /// (`shareable`: the engine has its wgpu instance and adapter, see
    /// [`super::burn_device`]); `None` when there is no engine. `Err` for `gpu` without an engine.
    pub fn runs_on_gpu(
        self,
        adapter: Option<(&wgpu::AdapterInfo, bool)>,
    ) -> Result<(bool, String)> {
        match (self, adapter) {
            (DeviceChoice::Cpu, _) => Ok((false, "cpu asked for".into())),
            (DeviceChoice::Gpu, Some(_)) => Ok((true, "gpu asked for".into())),
            (DeviceChoice::Gpu, None) => Err(Error::NoAdapter(
                "the GPU was asked for but no engine was opened (use --device auto or cpu)".into(),
            )),
            (DeviceChoice::Auto, None) => Ok((false, "auto: no GPU adapter".into())),
            (DeviceChoice::Auto, Some((info, _))) if is_cpu_adapter(info) => Ok((
                false,
                format!(
                    "auto: the adapter {} is a CPU adapter, burn's CPU backend is faster",
                    info.name
                ),
            )),
            (DeviceChoice::Auto, Some((info, false))) => Ok((
                false,
                format!(
                    "auto: the engine wraps a host's device on {} without its wgpu instance, \
                     which burn cannot share",
                    info.name
                ),
            )),
            (DeviceChoice::Auto, Some((info, true))) => Ok((
                true,
                format!(
                    "auto: {} is a {} GPU",
                    info.name,
                    crate::gpu::adapter::device_type_name(info.device_type)
                ),
            )),
        }
    }

    /// The backend this choice gives with `engine` (`None`: no engine was opened, or none could
    /// be), and what to report about it.
    pub fn resolve(self, engine: Option<&Engine>) -> Result<(Backend, DeviceUsed)> {
        let adapter = engine.map(|e| {
            let shareable = e.instance().is_some() && e.adapter().is_some();
            (e.adapter_info(), shareable)
        });
        let (gpu, reason) = self.runs_on_gpu(adapter)?;
        match engine {
            Some(e) if gpu => Ok((
                Backend::Gpu(e.clone()),
                DeviceUsed {
                    backend: "gpu",
                    name: e.adapter_info().name.clone(),
                    choice: self,
                    reason,
                },
            )),
            _ => Ok((
                Backend::Cpu,
                DeviceUsed {
                    backend: "cpu",
                    name: CPU_BACKEND_NAME.into(),
                    choice: self,
                    reason,
                },
            )),
        }
    }

    /// Whether this choice needs an engine to decide or to run: everything but `cpu`.
    pub fn wants_engine(self) -> bool {
        self != DeviceChoice::Cpu
    }
}

impl std::fmt::Display for DeviceUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.backend == "gpu" {
            format!("GPU {}", self.name)
        } else {
            self.name.clone()
        };
        write!(f, "{what} ({})", self.reason)
    }
}
