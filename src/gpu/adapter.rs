//! Adapter choice. A reconstruction node may have a discrete GPU, an integrated one and Mesa's
//! software rasteriser side by side; radpipe prefers real hardware, falls back to a CPU adapter
//! (lavapipe) so the same binary still works in CI, and lets operators pin the choice with the
//! standard wgpu variables `WGPU_BACKEND` (e.g. `vulkan`) and `WGPU_ADAPTER_NAME` (a substring of the
//! adapter's name, case-insensitive).

/// What `radpipe info` prints about one adapter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Backend: vulkan, metal, dx12, gl.
    pub backend: String,
    /// Device type: discrete-gpu, integrated-gpu, virtual-gpu, cpu, other.
    pub device_type: String,
    /// Driver name and version as reported.
    pub driver: String,
    /// PCI bus id (`0000:17:00.0`) where the driver reports one (empty for CPU adapters), for
    /// `EngineOptions::pci_bus_id` and a worker's `[worker] pci_bus_id`.
    pub pci_bus_id: String,
}

impl AdapterSummary {
    /// Summary of an adapter's info.
    pub fn from_info(info: &wgpu::AdapterInfo) -> Self {
        AdapterSummary {
            name: info.name.clone(),
            backend: info.backend.to_str().to_string(),
            device_type: device_type_name(info.device_type).to_string(),
            driver: format!("{} {}", info.driver, info.driver_info)
                .trim()
                .to_string(),
            pci_bus_id: info.device_pci_bus_id.clone(),
        }
    }
}

/// Stable lowercase name of a device type.
pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete-gpu",
        wgpu::DeviceType::IntegratedGpu => "integrated-gpu",
        wgpu::DeviceType::VirtualGpu => "virtual-gpu",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    }
}

/// Preference order: lower is better. Real GPUs first, then CPU adapters; within a type, native
/// compute APIs before OpenGL.
pub fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let by_type = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let by_backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (by_type, by_backend)
}

/// Index of the adapter to use among `infos`: those whose name contains `name_filter` (when given,
/// case-insensitive) and that can run compute shaders, best [`preference`] first; ties keep
/// enumeration order.
pub fn choose(infos: &[(wgpu::AdapterInfo, bool)], name_filter: Option<&str>) -> Option<usize> {
    let filter = name_filter.map(str::to_lowercase);
    infos
        .iter()
        .enumerate()
        .filter(|(_, (info, compute))| {
            *compute
                && filter
                    .as_deref()
                    .is_none_or(|f| info.name.to_lowercase().contains(f))
        })
        .min_by_key(|(i, (info, _))| (preference(info), *i))
        .map(|(i, _)| i)
}

/// Whether two PCI bus ids name the same device: `domain:bus:device.function` in hex, the domain
/// optional and of any width (wgpu's Vulkan backend writes `0000:17:00.0`, nvidia-smi and Ray
/// `00000000:17:00.0`), case-insensitive. Empty or malformed ids match nothing.
pub fn same_pci_bus_id(a: &str, b: &str) -> bool {
    fn parse(s: &str) -> Option<(u32, u32, u32, u32)> {
        let s = s.trim().to_ascii_lowercase();
        let parts: Vec<&str> = s.split(':').collect();
        let (domain, bus, devfn) = match parts.as_slice() {
            [d, b, f] => (u32::from_str_radix(d, 16).ok()?, *b, *f),
            [b, f] => (0, *b, *f),
            _ => return None,
        };
        let (dev, func) = devfn.split_once('.')?;
        Some((
            domain,
            u32::from_str_radix(bus, 16).ok()?,
            u32::from_str_radix(dev, 16).ok()?,
            u32::from_str_radix(func, 16).ok()?,
        ))
    }
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pci_bus_ids_compare_across_domain_widths() {
        assert!(super::same_pci_bus_id("0000:17:00.0", "00000000:17:00.0"));
        assert!(super::same_pci_bus_id("0000:AB:00.1", "ab:00.1"));
        assert!(!super::same_pci_bus_id("0000:17:00.0", "0000:18:00.0"));
        assert!(!super::same_pci_bus_id("", ""));
        assert!(!super::same_pci_bus_id("garbage", "garbage"));
    }

    use super::*;

    fn info(name: &str, t: wgpu::DeviceType, backend: wgpu::Backend) -> wgpu::AdapterInfo {
        let mut info = wgpu::AdapterInfo::new(t, backend);
        info.name = name.into();
        info
    }

    #[test]
    fn discrete_gpu_beats_cpu_and_filter_overrides() {
        let adapters = vec![
            (
                info("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan),
                true,
            ),
            (
                info(
                    "NVIDIA H200",
                    wgpu::DeviceType::DiscreteGpu,
                    wgpu::Backend::Vulkan,
                ),
                true,
            ),
            (
                info(
                    "NVIDIA H200 (GL)",
                    wgpu::DeviceType::DiscreteGpu,
                    wgpu::Backend::Gl,
                ),
                true,
            ),
        ];
        assert_eq!(choose(&adapters, None), Some(1));
        assert_eq!(choose(&adapters, Some("LLVMPIPE")), Some(0));
        assert_eq!(choose(&adapters, Some("no such")), None);
    }

    #[test]
    fn adapters_without_compute_are_skipped() {
        let adapters = vec![
            (
                info("old gl", wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Gl),
                false,
            ),
            (
                info("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan),
                true,
            ),
        ];
        assert_eq!(choose(&adapters, None), Some(1));
    }
}
