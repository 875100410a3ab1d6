//! The server's one error type: every failure a request can meet, each with its status code,
//! answered as JSON (`{"error": "...", "status": 422}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use percept_data::DataError;

/// Why a request (or starting the server) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The body is not JSON at all (400).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON, but not of the expected shape (422).
    #[error("unexpected JSON: {0}")]
    InvalidJson(String),
    /// An image with the wrong number of pixels (422).
    #[error("{what}: expected {expected} pixels, got {found}")]
    WrongLength {
        /// Which array (`"pixels"`, `"images[3]"`).
        what: String,
        /// The model's inputs.
        expected: usize,
        /// The array's length.
        found: usize,
    },
    /// A pixel that is not a finite number in 0..=255 (422).
    #[error("{what}[{index}] is {value}: pixels must be numbers in 0..1 or 0..255")]
    BadPixel {
        /// Which array.
        what: String,
        /// The pixel's index.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A batch with no image, or more than the server takes at once (422 / 413).
    #[error("a batch of {count} images: send 1 to {limit}")]
    BatchSize {
        /// Images sent.
        count: usize,
        /// Most images per batch.
        limit: usize,
    },
    /// A content type other than JSON or PNG (415).
    #[error("unsupported content type {0:?}: send application/json or image/png")]
    UnsupportedMediaType(String),
    /// A body over the server's limit (413).
    #[error("request body over the {limit}-byte limit")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// An image that cannot be decoded (400) or that declares more pixels than allowed (413).
    #[error(transparent)]
    Image(#[from] DataError),
    /// An image with no ink in it (422).
    #[error("the image is blank (no ink stands out from its background)")]
    BlankImage,
    /// Images sent to a model that does not take a square image (422).
    #[error("the model takes {0} inputs, not a square image")]
    NotAnImageModel(usize),
    /// A model the server cannot serve, or a checkpoint it cannot load (at start-up).
    #[error("{0}")]
    Model(String),
    /// A request the router refused (404, 405, 408, …): the status and what it means.
    #[error("{1}")]
    Status(StatusCode, String),
    /// Something went wrong inside the server (500); the message says what.
    #[error("internal error: {0}")]
    Internal(String),
    /// Binding the address or serving failed (at start-up).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::InvalidJson(_)
            | Self::WrongLength { .. }
            | Self::BadPixel { .. }
            | Self::BlankImage
            | Self::NotAnImageModel(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BatchSize { count, .. } if *count == 0 => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BatchSize { .. } | Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Image(DataError::ImageTooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Image(_) => StatusCode::BAD_REQUEST,
            Self::Status(status, _) => *status,
            Self::Model(_) | Self::Internal(_) | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "error": self.to_string(), "status": status.as_u16() });
        (status, axum::Json(body)).into_response()
    }
}
