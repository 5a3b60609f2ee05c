//! `radpipe run PIPELINE.toml IN_DIR -o OUT_DIR --queue nats://…`: the batch mode spread over the
//! queue's workers. The client stores each input as an object and publishes one job per file (the
//! pipeline file's text travels in the job); a worker runs the same batch code on that one file,
//! stores the outputs as objects and publishes a result; the client counts the results — each one
//! is a job a worker acked — writes the outputs into OUT_DIR (temporary file, rename) and reports
//! skipped files as the local run does, with the same exit status.
//!
//! A pipeline that names other files (a `match` reference, segment weights) is refused with
//! `--queue`: those would have to be on every worker at the same path, which the client cannot
//! check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer;
use futures_util::StreamExt;

use super::message::{BatchJob, BatchResult, Job};
use super::{Queue, names};
use crate::batch::run::{BatchReport, run_batch};
use crate::batch::spec::PipelineSpec;
use crate::serve::spool::Spool;
use crate::{Engine, Error, Result};

/// A batch file computed by a worker's thread.
#[derive(Debug)]
pub struct Done {
    /// Output files (local).
    pub outputs: Vec<PathBuf>,
    /// Why it was skipped.
    pub error: Option<String>,
}

fn job_dir(spool: &Spool, b: &BatchJob) -> PathBuf {
    spool.root().join("batch").join(&b.id)
}

/// Worker side: fetches the input and runs the pipeline on it on a thread of its own (the engine is
/// shared); the slot is filled when it is done.
pub fn start(
    queue: &Queue,
    engine: &Engine,
    spool: &Spool,
    b: &BatchJob,
) -> Result<Arc<Mutex<Option<Done>>>> {
    let dir = job_dir(spool, b);
    let _ = std::fs::remove_dir_all(&dir);
    let (in_dir, out_dir) = (dir.join("in"), dir.join("out"));
    for d in [&in_dir, &out_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let file_name = Path::new(&b.input)
        .file_name()
        .map(|n| n.to_os_string())
        .ok_or_else(|| Error::InvalidParams(format!("job {}: input has no file name", b.id)))?;
    let input = in_dir.join(file_name);
    let bytes = queue.get_object(&b.object)?;
    std::fs::write(&input, bytes).map_err(|e| Error::io(&input, e))?;
    let slot: Arc<Mutex<Option<Done>>> = Arc::default();
    let (engine, b, fill) = (engine.clone(), b.clone(), slot.clone());
    std::thread::Builder::new()
        .name("radpipe-batch".into())
        .spawn(move || {
            let result = crate::io::contained::run(|| run_one(&engine, &b, &input, &out_dir))
                .unwrap_or_else(|| Err(Error::Gpu("the job panicked (contained)".into())));
            let local = input.display().to_string();
            let done = match result {
                Ok(report) if report.failed.is_empty() => match list(&out_dir) {
                    Ok(outputs) => Done {
                        outputs,
                        error: None,
                    },
                    Err(e) => Done {
                        outputs: Vec::new(),
                        error: Some(e.to_string()),
                    },
                },
                Ok(report) => Done {
                    outputs: Vec::new(),
                    error: Some(
                        report
                            .failed
                            .iter()
                            .map(|(_, why)| why.replace(&local, &b.input))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                },
                Err(e) => Done {
                    outputs: Vec::new(),
                    error: Some(e.to_string().replace(&local, &b.input)),
                },
            };
            if let Ok(mut s) = fill.lock() {
                *s = Some(done);
            }
        })
        .map_err(|e| Error::Gpu(format!("cannot start a batch thread: {e}")))?;
    Ok(slot)
}

fn run_one(engine: &Engine, b: &BatchJob, input: &Path, out: &Path) -> Result<BatchReport> {
    let spec = PipelineSpec::parse(&b.pipeline, Path::new(&b.pipeline_name))?;
    run_batch(engine, &spec, &[input.to_path_buf()], out, |_| {})
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

/// Worker side: stores the outputs and publishes the result (deduplicated by the job id, so a
/// redelivered job's second result is dropped).
pub fn publish_result(queue: &Queue, b: &BatchJob, done: &Done, worker: &str) -> Result<()> {
    let mut outputs = BTreeMap::new();
    for f in &done.outputs {
        let name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let object = format!("batch/{}/out/{}/{name}", b.run, b.id);
        let bytes = std::fs::read(f).map_err(|e| Error::io(f, e))?;
        queue.put_object(&object, &bytes)?;
        outputs.insert(name, object);
    }
    let result = BatchResult {
        id: b.id.clone(),
        input: b.input.clone(),
        outputs,
        error: done.error.clone(),
        worker: worker.to_string(),
    };
    let payload =
        serde_json::to_vec(&result).map_err(|e| queue.error("cannot encode a result", e))?;
    queue.publish_dedup(
        &format!("{}.{}", names::RESULTS_SUBJECT, b.run),
        &format!("result.{}", b.id),
        payload,
    )
}

/// Worker side: removes the job's scratch folder.
pub fn clean(spool: &Spool, b: &BatchJob) {
    let _ = std::fs::remove_dir_all(job_dir(spool, b));
}

/// What the client got back.
#[derive(Debug, Default)]
pub struct QueuedReport {
    /// Files written into the output folder.
    pub processed: usize,
    /// Inputs skipped, with the reason.
    pub failed: Vec<(String, String)>,
    /// Outputs written.
    pub written: Vec<PathBuf>,
    /// Results per worker name.
    pub by_worker: BTreeMap<String, usize>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Client side: runs `pipeline` over `inputs` through the queue, writing into `out`. `on_result`
/// is called once per input as its result arrives (the progress bar). Gives up when no result
/// arrives for `idle` (no worker is taking jobs).
pub fn run_queued(
    url: &str,
    pipeline: &Path,
    spec: &PipelineSpec,
    inputs: &[PathBuf],
    out: &Path,
    idle: Duration,
    mut on_result: impl FnMut(&BatchResult),
) -> Result<QueuedReport> {
    let refs = spec.references();
    if !refs.is_empty() {
        return Err(Error::InvalidParams(format!(
            "{}: the pipeline names {} (reference or weights): --queue sends only the inputs to the \
             workers; run it without --queue, or use the shipped model",
            pipeline.display(),
            refs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let text = crate::io::gate::read_to_string(pipeline, crate::io::gate::InputKind::Text)?;
    let started = Instant::now();
    let queue = Queue::connect(url, "radpipe-run", Duration::from_secs(10))?;
    let run = format!(
        "r{:x}{:x}",
        crate::serve::clock::unix_ms(std::time::SystemTime::now()),
        std::process::id()
    );
    let subject = format!("{}.{run}", names::RESULTS_SUBJECT);
    // The results' consumer first: none can be missed (it starts at the stream's first message of
    // this run's subject anyway).
    let mut results = queue.block(async {
        let stream = queue
            .js
            .get_stream(names::RESULTS_STREAM)
            .await
            .map_err(|e| queue.error("results stream", e))?;
        let c = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| queue.error("results consumer", e))?;
        c.messages()
            .await
            .map_err(|e| queue.error("results consumer", e))
    })?;
    let pipeline_name = pipeline
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for (i, input) in inputs.iter().enumerate() {
        let id = format!("{run}.{i}");
        let object = format!("batch/{run}/in/{i}");
        let bytes = std::fs::read(input).map_err(|e| Error::io(input, e))?;
        queue.put_object(&object, &bytes)?;
        let job = Job::Batch(BatchJob {
            id: id.clone(),
            run: run.clone(),
            input: input.display().to_string(),
            object,
            pipeline: text.clone(),
            pipeline_name: pipeline_name.clone(),
        });
        let payload =
            serde_json::to_vec(&job).map_err(|e| queue.error("cannot encode a job", e))?;
        queue.publish_dedup(&format!("{}.{run}", names::BATCH_JOB_SUBJECT), &id, payload)?;
        pending.insert(id);
    }
    let mut report = QueuedReport::default();
    let mut last = Instant::now();
    while !pending.is_empty() {
        let next = queue.block(async {
            tokio::time::timeout(Duration::from_millis(500), results.next()).await
        });
        let msg = match next {
            Err(_) => {
                if last.elapsed() > idle {
                    return Err(Error::InvalidParams(format!(
                        "queue {url}: no result for {:.0} s with {} of {} files outstanding: are \
                         workers running? (radpipe status --queue {url})",
                        idle.as_secs_f64(),
                        pending.len(),
                        inputs.len()
                    )));
                }
                continue;
            }
            Ok(None) => return Err(queue.error("results", "the stream ended")),
            Ok(Some(Err(e))) => return Err(queue.error("results", e)),
            Ok(Some(Ok(m))) => m,
        };
        let Ok(result) = serde_json::from_slice::<BatchResult>(&msg.payload) else {
            continue;
        };
        if !pending.remove(&result.id) {
            continue; // a duplicate
        }
        last = Instant::now();
        *report.by_worker.entry(result.worker.clone()).or_default() += 1;
        match &result.error {
            Some(e) => report.failed.push((result.input.clone(), e.clone())),
            None => {
                for (name, object) in &result.outputs {
                    let bytes = queue.get_object(object)?;
                    let path = out.join(name);
                    crate::io::atomic::write_atomic(&path, |w| {
                        std::io::Write::write_all(w, &bytes).map_err(|e| Error::io(&path, e))
                    })?;
                    report.written.push(path);
                    let _ = queue.block(queue.data.delete(object));
                }
                report.processed += 1;
            }
        }
        on_result(&result);
    }
    for i in 0..inputs.len() {
        let _ = queue.block(queue.data.delete(format!("batch/{run}/in/{i}")));
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
