//! A real `nats-server -js` for the queue tests: on a free loopback port, its JetStream store in the
//! test's folder (so a restart finds its streams), killed and reaped on drop.
#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::procs::{Guard, free_port, wait_until};

/// A running (or stopped, between [`Nats::stop`] and [`Nats::restart`]) nats-server.
pub struct Nats {
    child: Option<Guard>,
    /// Its client port.
    pub port: u16,
    store: PathBuf,
}

impl Nats {
    /// Starts one with its store in `dir/nats`.
    pub fn start(dir: &Path) -> Nats {
        let store = dir.join("nats");
        std::fs::create_dir_all(&store).expect("nats store");
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn(port, &store) {
                return Nats {
                    child: Some(child),
                    port,
                    store,
                };
            }
        }
        panic!("nats-server did not start (apt-get install nats-server; .ci/run does)");
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: nothing is flushed that a crash would not flush).
    pub fn stop(&mut self) {
        self.child = None;
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        for _ in 0..50 {
            if let Some(child) = spawn(self.port, &self.store) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("nats-server did not restart on port {}", self.port);
    }
}

fn spawn(port: u16, store: &Path) -> Option<Guard> {
    let child = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (apt-get install nats-server; .ci/run does)");
    let mut guard = Guard(child);
    let up = wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
            || guard.0.try_wait().ok().flatten().is_some()
    });
    (up && guard.0.try_wait().ok().flatten().is_none()).then_some(guard)
}
