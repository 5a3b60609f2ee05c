//! Processes and ports for the network tests (and the node benchmark, which includes this file):
//! a guard that kills and reaps a child whatever the test does, a loopback port free a moment ago,
//! and a bounded poll.

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed and reaped on drop.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago (bind, read, drop); callers retry on collision.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `done` every 50 ms until it holds or `limit` passes; its last answer.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}
