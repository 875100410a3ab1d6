//! One function per route. Each reads the request, hands the CPU work (decoding, preparing,
//! the forward pass) to the model pool's blocking threads, and answers JSON.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use percept_data::{DigitOptions, decode_image, prepare_digit};
use percept_linalg::Matrix;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{Guess, classify};
use super::{AppState, ServeError};

/// The draw-a-digit page: one file, no external resources.
const PAGE: &str = include_str!("page.html");

/// `GET /`.
pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `GET /healthz`.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /model`.
pub(crate) async fn model(State(state): State<Arc<AppState>>) -> Response {
    Json(&*state.info).into_response()
}

/// `POST /predict` answers this.
#[derive(Serialize)]
pub(crate) struct Prediction {
    #[serde(flatten)]
    guess: Guess,
    /// Time spent preparing the image and running the model, in milliseconds.
    millis: f64,
    /// For a PNG: the model's input (light ink on black, row-major) as it was prepared.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<Vec<f32>>,
    /// For a PNG: whether it was inverted (dark ink on a light background).
    #[serde(skip_serializing_if = "Option::is_none")]
    inverted: Option<bool>,
}

/// `POST /predict/batch` answers this.
#[derive(Serialize)]
pub(crate) struct BatchPrediction {
    predictions: Vec<Guess>,
    millis: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsRequest {
    pixels: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    images: Vec<Vec<f64>>,
}

/// What a request body holds, by its `Content-Type`.
enum Body {
    Json,
    Png,
}

fn body_kind(headers: &HeaderMap, accept_png: bool) -> Result<Body, ServeError> {
    let content_type =
        headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
    let Some(content_type) = content_type else {
        return Err(ServeError::UnsupportedMediaType("(none)".into()));
    };
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Body::Json),
        "image/png" if accept_png => Ok(Body::Png),
        _ => Err(ServeError::UnsupportedMediaType(content_type)),
    }
}

/// The body's bytes, or the error its reading met (a body over the limit is 413).
fn body_bytes(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ServeError> {
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ServeError::BodyTooLarge { limit },
        status => ServeError::Status(status, rejection.body_text()),
    })
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ServeError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ServeError::InvalidJson(e.to_string()),
        _ => ServeError::MalformedJson(e.to_string()),
    })
}

/// `values` as model inputs in `[0, 1]`: exactly `inputs` finite numbers in 0..=1, or in
/// 0..=255 (scaled by 1/255) when any is above 1.
fn checked_pixels(values: &[f64], inputs: usize, what: &str) -> Result<Vec<f32>, ServeError> {
    if values.len() != inputs {
        return Err(ServeError::WrongLength {
            what: what.to_string(),
            expected: inputs,
            found: values.len(),
        });
    }
    if let Some((index, &value)) = values.iter().enumerate().find(|&(_, v)| !(0.0..=255.0).contains(v)) {
        return Err(ServeError::BadPixel { what: what.to_string(), index, value });
    }
    let scale = if values.iter().any(|&v| v > 1.0) { 1.0 / 255.0 } else { 1.0 };
    Ok(values.iter().map(|&v| (v * scale) as f32).collect())
}

fn millis(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// `POST /predict`: JSON `{"pixels": [...]}` or a PNG of any size.
pub(crate) async fn predict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Prediction>, ServeError> {
    let kind = body_kind(&headers, true)?;
    let bytes = body_bytes(body, state.config.body_limit)?;
    let info = state.info.clone();
    match kind {
        Body::Json => {
            let request: PixelsRequest = parse_json(&bytes)?;
            let pixels = checked_pixels(&request.pixels, info.inputs, "pixels")?;
            state
                .pool
                .run(move |model| {
                    let start = Instant::now();
                    let images = Matrix::from_vec(1, info.inputs, pixels);
                    let guess = classify(model, &images, &info)?.remove(0);
                    Ok(Prediction { guess, millis: millis(start), input: None, inverted: None })
                })
                .await
                .map(Json)
        }
        Body::Png => {
            let side = info.image_side.ok_or(ServeError::NotAnImageModel(info.inputs))?;
            let limits = state.config.image_limits;
            state
                .pool
                .run(move |model| {
                    let start = Instant::now();
                    let image = decode_image(&bytes, "request body", &limits)?;
                    let options =
                        DigitOptions { size: side, fit: (side * 20).div_ceil(28), ..Default::default() };
                    let digit = prepare_digit(&image, &options).ok_or(ServeError::BlankImage)?;
                    let images = Matrix::from_vec(1, side * side, digit.pixels.clone());
                    let guess = classify(model, &images, &info)?.remove(0);
                    let input = digit.pixels.iter().map(|v| (v * 1000.0).round() / 1000.0).collect();
                    Ok(Prediction {
                        guess,
                        millis: millis(start),
                        input: Some(input),
                        inverted: Some(digit.inverted),
                    })
                })
                .await
                .map(Json)
        }
    }
}

/// `POST /predict/batch`: JSON `{"images": [[...], ...]}`.
pub(crate) async fn predict_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchPrediction>, ServeError> {
    body_kind(&headers, false)?;
    let bytes = body_bytes(body, state.config.body_limit)?;
    let request: BatchRequest = parse_json(&bytes)?;
    let (count, limit) = (request.images.len(), state.config.max_batch);
    if count == 0 || count > limit {
        return Err(ServeError::BatchSize { count, limit });
    }
    let info = state.info.clone();
    let mut pixels = Vec::with_capacity(count * info.inputs);
    for (i, image) in request.images.iter().enumerate() {
        pixels.extend(checked_pixels(image, info.inputs, &format!("images[{i}]"))?);
    }
    state
        .pool
        .run(move |model| {
            let start = Instant::now();
            let images = Matrix::from_vec(count, info.inputs, pixels);
            let predictions = classify(model, &images, &info)?;
            Ok(BatchPrediction { predictions, millis: millis(start) })
        })
        .await
        .map(Json)
}

/// Any other path.
pub(crate) async fn not_found() -> ServeError {
    ServeError::Status(
        StatusCode::NOT_FOUND,
        "no such endpoint: GET /, POST /predict, POST /predict/batch, GET /model, GET /healthz".into(),
    )
}
