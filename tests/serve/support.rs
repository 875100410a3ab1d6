//! What the server's tests share: an MNIST model trained in a few seconds, MNIST test images,
//! and a small HTTP client (hyper's, one connection per call).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use percept::prelude::*;

pub const MNIST_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/mnist");

pub fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| Mnist::load(MNIST_DIR).expect("datasets/mnist is committed"))
}

/// The model every test here serves: 784-128-10, two epochs ([`trained_checkpoint`]).
pub fn checkpoint() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| trained_checkpoint("serve", 128, 2))
}

static MACHINE: RwLock<()> = RwLock::new(());

/// Held by a test that may share the machine with the others.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Held by the load test, so that its figures are its own.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A 784-`hidden`-10 MLP trained with SGD on MNIST's first 55,000 training images (the
/// last 5,000 are its validation set), saved as a checkpoint under target/tmp/`name`.ckpt
/// with the data set's name and class names, as `percept train` saves one.
pub fn trained_checkpoint(name: &str, hidden: usize, epochs: usize) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.ckpt"));
    let _ = std::fs::remove_file(&path);
    let mnist = mnist();
    let train = Subset::new(&mnist.train, (0..55_000).collect());
    let validation = Subset::new(&mnist.train, (55_000..60_000).collect());
    let mut rng = seeded_rng(7);
    let mut model = Sequential::new();
    model
        .add(Linear::new(784, hidden, &mut rng))
        .and_then(|m| m.add(ReLU))
        .and_then(|m| m.add(Linear::new(hidden, 10, &mut rng)))
        .expect("sizes chain");
    let mut optimizer = Optimizer::new(Sgd { momentum: 0.9, ..Sgd::new(0.05) });
    let mut trainer =
        Trainer::new(FitConfig { epochs, batch_size: 64, verbose: false, ..Default::default() });
    trainer.checkpoint_every_epoch(&path);
    trainer.class_names(mnist.class_names().expect("MNIST is recognised"));
    trainer.metadata("dataset", mnist.known_name().expect("MNIST is recognised"));
    trainer
        .fit(&mut model, &mut SoftmaxCrossEntropy::new(), &mut optimizer, &train, Some(&validation))
        .expect("trains");
    path
}

/// MNIST test image `index` as grey levels in [0, 1], and its label.
pub fn test_image(index: usize) -> (Vec<f32>, usize) {
    let mnist = mnist();
    let pixels = mnist.test.image(index);
    (pixels, usize::from(mnist.test.labels()[index]))
}

/// A PNG of `width × height` 8-bit grey levels.
pub fn png_bytes(width: u32, height: u32, grey: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().expect("header").write_image_data(grey).expect("data");
    bytes
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics, naming the body, if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// A request on a connection of its own. `body` goes out with a Content-Length unless
/// `chunked`.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder().method(method).uri(path).header(HOST, addr.to_string());
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    let request = request.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes().to_vec();
    Ok(Reply { status, content_type, body })
}

/// [`send`], from synchronous code.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(send(addr, method, path, content_type, body.into())).expect("the server answers")
}

/// `{"pixels": [...]}`.
pub fn pixels_json(pixels: &[f32]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "pixels": pixels })).expect("serializes")
}
