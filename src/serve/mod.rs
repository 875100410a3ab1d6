//! `percept serve`: a trained classifier behind a small HTTP API, with a page to draw a digit
//! on (feature `serve`, on with the CLI).
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the draw-a-digit page (one HTML file, no external resources) |
//! | `POST /predict` | `{"pixels": [784 numbers in 0..1 or 0..255]}` as JSON, or a PNG of any size (prepared as MNIST's digits were, [`percept_data::prepare_digit`]); answers `{"class", "label", "probabilities", "millis"}`, and for a PNG also `"input"` (the 28 × 28 the model saw) and `"inverted"` |
//! | `POST /predict/batch` | `{"images": [[784 numbers], ...]}`; answers `{"predictions": [{"class", "label", "probabilities"}, ...], "millis"}` |
//! | `GET /model` | layers, parameter count, data set, class names, recorded accuracy |
//! | `GET /healthz` | `{"status": "ok"}` |
//!
//! Every error is JSON, `{"error": "...", "status": 422}`, with the status that fits
//! ([`ServeError::status`]): 400 malformed JSON or an undecodable image, 413 a body over
//! [`ServeConfig::body_limit`] or an image declaring more than
//! [`ServeConfig::image_limits`] allow, 415 a content type other than JSON or PNG, 422 a wrong
//! number of pixels, a pixel out of range, a blank image. The server keeps serving.
//!
//! Inside: axum on tokio. The model is loaded once; a pool of copies of it, one per worker,
//! runs the forward passes on blocking threads, off the I/O threads (see `model.rs` for why
//! copies rather than one model behind a lock). tower layers bound the body, the time of a
//! request and how many are in flight; a panic in a handler becomes a 500 JSON answer.
//!
//! ```no_run
//! use percept::serve::{ServeConfig, Server};
//! use percept::train::Checkpoint;
//!
//! let checkpoint = Checkpoint::load("mnist.ckpt")?;
//! let running = Server::new(checkpoint, ServeConfig::default())?.spawn("127.0.0.1:8080")?;
//! println!("serving {}", running.url());
//! running.run_until_ctrl_c()?; // graceful: requests in flight are answered first
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod handlers;
mod model;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use percept_data::ImageLimits;
use percept_train::Checkpoint;
use tokio::sync::oneshot;

pub use error::ServeError;
use model::{ModelInfo, ModelPool};

/// How the server is bounded. `ServeConfig { workers: 4, ..Default::default() }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeConfig {
    /// Largest request body, in bytes (2 MiB); larger ones get 413.
    pub body_limit: usize,
    /// Longest a request may take, waiting included (30 s); longer ones get 408.
    pub timeout: Duration,
    /// Requests in flight at once (64); more wait their turn.
    pub max_in_flight: usize,
    /// Copies of the model, hence predictions running at once (default: the number of
    /// cores).
    pub workers: usize,
    /// Most images in one `POST /predict/batch` (256).
    pub max_batch: usize,
    /// What a PNG may make the decoder allocate (4 megapixels: a phone's canvas at any pixel
    /// density fits well inside).
    pub image_limits: ImageLimits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let body_limit = 2 << 20;
        Self {
            body_limit,
            timeout: Duration::from_secs(30),
            max_in_flight: 64,
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            max_batch: 256,
            image_limits: ImageLimits { max_pixels: 1 << 22, max_file_bytes: body_limit as u64 },
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pool: Arc<ModelPool>,
    info: Arc<ModelInfo>,
    config: ServeConfig,
}

/// A model ready to serve: build it with [`Server::new`], then [`Server::spawn`] it (or
/// mount [`Server::router`] in an axum application of your own).
pub struct Server {
    state: Arc<AppState>,
}

/// How long [`RunningServer::shutdown`] waits for requests in flight before it stops anyway.
const GRACE: Duration = Duration::from_secs(10);

impl Server {
    /// Loads the checkpoint's model `config.workers` times.
    ///
    /// # Errors
    /// [`ServeError::Model`] if the checkpoint's layers do not build a model, or the model is
    /// not a classifier (fewer than 2 outputs) or has no fixed input width.
    pub fn new(checkpoint: Checkpoint, config: ServeConfig) -> Result<Self, ServeError> {
        let info = Arc::new(ModelInfo::of(&checkpoint)?);
        let pool = Arc::new(ModelPool::new(checkpoint, config.workers)?);
        Ok(Self { state: Arc::new(AppState { pool, info, config }) })
    }

    /// The routes with their limits, ready to serve or to nest in another axum router.
    pub fn router(&self) -> Router {
        let state = Arc::clone(&self.state);
        let config = state.config;
        Router::new()
            .route("/", get(handlers::page))
            .route("/healthz", get(handlers::healthz))
            .route("/model", get(handlers::model))
            .route("/predict", post(handlers::predict))
            .route("/predict/batch", post(handlers::predict_batch))
            .fallback(handlers::not_found)
            .with_state(Arc::clone(&state))
            // Layers wrap what is above them: the last added sees a request first.
            .layer(DefaultBodyLimit::max(config.body_limit))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(config.body_limit))
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(config.max_in_flight))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.timeout,
            ))
            .layer(axum::middleware::map_response_with_state(state, json_errors))
            .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_panic| {
                ServeError::Internal("a handler panicked".into()).into_response()
            }))
    }

    /// Binds `addr` (`"127.0.0.1:0"` picks a free port) and serves on a tokio runtime of its
    /// own until [`RunningServer::shutdown`], [`RunningServer::run_until_ctrl_c`] or drop.
    ///
    /// # Errors
    /// [`ServeError::Io`] if the runtime cannot start or the address cannot be bound.
    pub fn spawn(self, addr: &str) -> Result<RunningServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    // Either a message or the sender dropped: stop either way.
                    let _ = signal.await;
                })
                .await
        });
        Ok(RunningServer { addr, runtime: Some(runtime), shutdown: Some(shutdown), task: Some(task) })
    }
}

/// A server running on its own runtime. Dropping it shuts it down.
pub struct RunningServer {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` and the address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, answers the requests in flight (for up to 10 s), and
    /// stops.
    ///
    /// # Errors
    /// [`ServeError::Io`] if serving had failed.
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop()
    }

    /// Serves until Ctrl-C (SIGINT) or SIGTERM, then shuts down as
    /// [`RunningServer::shutdown`] does.
    ///
    /// # Errors
    /// [`ServeError::Io`] if the signals cannot be listened for or serving failed.
    pub fn run_until_ctrl_c(mut self) -> Result<(), ServeError> {
        let (Some(runtime), Some(task)) = (&self.runtime, &mut self.task) else { return Ok(()) };
        let finished = runtime.block_on(async {
            tokio::select! {
                signal = stop_signal() => signal.map(|()| None),
                served = task => Ok(Some(served)),
            }
        })?;
        match finished {
            // The server stopped by itself: report how.
            Some(served) => {
                self.task = None;
                served.map_err(|e| ServeError::Internal(e.to_string()))?.map_err(ServeError::Io)
            }
            None => self.stop(),
        }
    }

    fn stop(&mut self) -> Result<(), ServeError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) else { return Ok(()) };
        let result = runtime.block_on(async { tokio::time::timeout(GRACE, task).await });
        runtime.shutdown_timeout(Duration::from_secs(1));
        match result {
            Ok(Ok(served)) => served.map_err(ServeError::Io),
            Ok(Err(join)) => Err(ServeError::Internal(join.to_string())),
            // Requests still running after the grace period are dropped.
            Err(_elapsed) => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Makes every error answer JSON, including those the router and the tower layers make
/// themselves (404, 405, 408, 413) with a plain or empty body.
async fn json_errors(State(state): State<Arc<AppState>>, response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ServeError::BodyTooLarge { limit: state.config.body_limit },
        StatusCode::REQUEST_TIMEOUT => {
            ServeError::Status(status, format!("no answer within {:?}", state.config.timeout))
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            ServeError::Status(status, "method not allowed for this path (see the Allow header)".into())
        }
        _ => ServeError::Status(status, status.canonical_reason().unwrap_or("error").to_string()),
    };
    let mut json = error.into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        json.headers_mut().insert(header::ALLOW, allow.clone());
    }
    json
}
