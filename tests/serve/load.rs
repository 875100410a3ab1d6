//! A bounded load test of `percept serve` on 127.0.0.1: 20,000 `POST /predict` requests (JSON,
//! MNIST test images) over 32 keep-alive connections, against the real binary in its own
//! process so that its peak memory is its own. It stops by itself (after the requests, or
//! after two minutes at most) and fails if any request fails.
//!
//! It reports requests per second, p50/p99/max latency and the server's peak resident memory
//! (VmHWM), on stdout and in target/serve-load.txt. The client runs on the same machine, so
//! the figures are for client and server sharing its cores. A debug build sends 2,000
//! requests; `PERCEPT_LOAD_REQUESTS` sets the count.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::{call, checkpoint, exclusive, pixels_json, test_image};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;

const CONNECTIONS: usize = 32;
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Kills the server if the test fails before it stops it.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmHWM` (peak resident memory) and `VmRSS` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Sends `count` requests one after another on one connection; each one's latency, or the
/// first failure.
async fn connection(
    addr: SocketAddr,
    bodies: Vec<Bytes>,
    count: usize,
    deadline: Instant,
) -> Result<Vec<Duration>, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        if Instant::now() > deadline {
            return Err(format!("out of time after {i} requests"));
        }
        let request = hyper::Request::post("/predict")
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(bodies[i % bodies.len()].clone()))
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        sender.ready().await.map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        latencies.push(start.elapsed());
        if status != 200 || !body.starts_with(b"{\"class\":") {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
        }
    }
    Ok(latencies)
}

#[test]
fn twenty_thousand_requests_over_32_connections_all_answered() {
    let requests: usize = std::env::var("PERCEPT_LOAD_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 2_000 } else { 20_000 });
    let checkpoint = checkpoint();
    let _machine = exclusive();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_percept"))
        .args(["serve", "--checkpoint", checkpoint.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut child = Child(child);
    let pid = child.0.id();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url =
        first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{first}"));
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let (_, idle_kib) = memory_kib(pid);

    let bodies: Vec<Bytes> = (0..100).map(|i| Bytes::from(pixels_json(&test_image(i).0))).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let deadline = Instant::now() + TIME_LIMIT;
    let start = Instant::now();
    let results: Vec<Result<Vec<Duration>, String>> = runtime.block_on(async {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                let count = requests / CONNECTIONS + usize::from(c < requests % CONNECTIONS);
                tokio::spawn(connection(addr, bodies.clone(), count, deadline))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        results
    });
    let elapsed = start.elapsed();
    let (peak_kib, _) = memory_kib(pid);

    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} connections failed, the first: {}", failures.len(), failures[0]);
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(Result::unwrap).collect();
    assert_eq!(latencies.len(), requests);
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let report = format!(
        "percept serve load test ({} build): {requests} POST /predict (JSON, 784 pixels) over {CONNECTIONS} \
         connections to 127.0.0.1, client and server on the same {} cores\n\
         {:.0} requests/s over {:.2} s, 0 failed; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         server memory {:.1} MiB idle, peak {:.1} MiB (VmHWM)\n",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        std::thread::available_parallelism().map_or(1, usize::from),
        requests as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        ms(percentile(0.5)),
        ms(percentile(0.99)),
        ms(percentile(1.0)),
        idle_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
    );
    print!("{report}");
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp is in target");
    std::fs::write(target.join("serve-load.txt"), &report).expect("write the report");

    // The server is still well after the load, and stops cleanly on Ctrl-C.
    assert_eq!(call(addr, "GET", "/healthz", None, vec![]).status, 200);
    let status = std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    assert!(child.0.wait().expect("exits").success());
    assert_eq!(lines.map_while(Result::ok).collect::<Vec<_>>(), ["stopped"]);
}
