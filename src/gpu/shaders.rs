//! The shader registry. `build.rs` embeds every `shaders/*.wgsl` (imports resolved, validated by naga)
//! together with its reflected entry points and bindings; the registry turns each into an explicit bind
//! group layout, pipeline layout and compute pipeline the first time it is used, and never again for the
//! engine's lifetime (`Stats::pipelines_created` proves it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::stats::Counters;
use crate::{Error, Result};

/// How a shader binding is used (reflected at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    /// Read-only storage buffer.
    StorageRead,
    /// Read-write storage buffer.
    StorageReadWrite,
    /// Uniform buffer.
    Uniform,
    /// Write-only 2-D storage texture of the given format.
    StorageTextureWrite(wgpu::TextureFormat),
}

/// One binding of group 0.
#[derive(Debug, Clone, Copy)]
pub struct BindingInfo {
    /// `@binding(n)`.
    pub binding: u32,
    /// Usage.
    pub kind: BindingKind,
}

/// One compute entry point.
#[derive(Debug, Clone, Copy)]
pub struct EntryPointInfo {
    /// Function name.
    pub name: &'static str,
    /// `@workgroup_size`.
    pub workgroup_size: [u32; 3],
}

/// An embedded shader.
#[derive(Debug)]
pub struct ShaderSource {
    /// File stem under `shaders/`.
    pub name: &'static str,
    /// WGSL with imports inlined.
    pub wgsl: &'static str,
    /// Compute entry points.
    pub entry_points: &'static [EntryPointInfo],
    /// Group-0 bindings, in binding order.
    pub bindings: &'static [BindingInfo],
}

include!(concat!(env!("OUT_DIR"), "/shaders.rs"));

/// Every embedded shader.
pub fn all_shaders() -> &'static [ShaderSource] {
    SHADERS
}

/// A ready-to-dispatch compute pipeline with its bind group layout.
#[derive(Debug)]
pub struct Kernel {
    /// The pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Layout of group 0.
    pub layout: wgpu::BindGroupLayout,
    /// Workgroup size of the entry point.
    pub workgroup_size: [u32; 3],
    /// The shader's bindings.
    pub bindings: &'static [BindingInfo],
    /// "shader::entry", for labels and errors.
    pub label: String,
}

/// Builds and caches kernels for one device.
#[derive(Debug)]
pub struct ShaderRegistry {
    device: wgpu::Device,
    counters: Arc<Counters>,
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<KernelKey, Arc<Kernel>>>,
}

/// A kernel is one entry point under one set of pipeline-overridable constants.
type KernelKey = (&'static str, &'static str, Vec<(String, u64)>);

impl ShaderRegistry {
    pub(crate) fn new(device: wgpu::Device, counters: Arc<Counters>) -> Self {
        ShaderRegistry {
            device,
            counters,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// The kernel for `shader`'s `entry` point, built on first use and cached.
    pub fn kernel(&self, shader: &str, entry: &str) -> Result<Arc<Kernel>> {
        self.specialized(shader, entry, &[])
    }

    /// The kernel for `shader`'s `entry` point with its WGSL `override` constants set to `constants`:
    /// one pipeline per distinct specialisation (e.g. per input format), built on first use and
    /// cached, so the driver compiles branch-free code for the case at hand.
    pub fn specialized(
        &self,
        shader: &str,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<Arc<Kernel>> {
        let source = SHADERS
            .iter()
            .find(|s| s.name == shader)
            .ok_or_else(|| Error::Gpu(format!("no embedded shader named '{shader}'")))?;
        let ep = source
            .entry_points
            .iter()
            .find(|e| e.name == entry)
            .ok_or_else(|| Error::Gpu(format!("shader '{shader}' has no entry point '{entry}'")))?;
        let mut kernels = self
            .kernels
            .lock()
            .map_err(|_| Error::Gpu("shader registry lock poisoned".into()))?;
        let key: KernelKey = (
            source.name,
            ep.name,
            constants
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_bits()))
                .collect(),
        );
        if let Some(k) = kernels.get(&key) {
            return Ok(k.clone());
        }
        let kernel = Arc::new(self.build(source, ep, constants)?);
        kernels.insert(key, kernel.clone());
        Ok(kernel)
    }

    /// Builds every kernel now (a render loop or benchmark calls this so no frame pays for it).
    pub fn warm_up(&self) -> Result<usize> {
        let mut n = 0;
        for s in SHADERS {
            for ep in s.entry_points {
                self.kernel(s.name, ep.name)?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn build(
        &self,
        source: &'static ShaderSource,
        ep: &'static EntryPointInfo,
        constants: &[(&str, f64)],
    ) -> Result<Kernel> {
        let mut label = format!("{}::{}", source.name, ep.name);
        if !constants.is_empty() {
            let spec: Vec<String> = constants.iter().map(|(n, v)| format!("{n}={v}")).collect();
            label = format!("{label}[{}]", spec.join(","));
        }
        let module = {
            let mut modules = self
                .modules
                .lock()
                .map_err(|_| Error::Gpu("shader registry lock poisoned".into()))?;
            modules
                .entry(source.name)
                .or_insert_with(|| {
                    self.device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(source.name),
                            source: wgpu::ShaderSource::Wgsl(source.wgsl.into()),
                        })
                })
                .clone()
        };
        let entries: Vec<wgpu::BindGroupLayoutEntry> = source
            .bindings
            .iter()
            .map(|b| wgpu::BindGroupLayoutEntry {
                binding: b.binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b.kind {
                    BindingKind::StorageRead => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    BindingKind::StorageReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    BindingKind::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    BindingKind::StorageTextureWrite(format) => wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                },
                count: None,
            })
            .collect();
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(ep.name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        Counters::bump(&self.counters.pipelines_created, 1);
        Ok(Kernel {
            pipeline,
            layout,
            workgroup_size: ep.workgroup_size,
            bindings: source.bindings,
            label,
        })
    }
}
