//! `percept::serve` over real HTTP on 127.0.0.1: every endpoint, every kind of bad request
//! (each a JSON error with its status, the server serving on after it), timeouts, and
//! `percept serve` stopping cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::Duration;

use percept::linalg::Matrix;
use percept::nn::Mode;
use percept::serve::{RunningServer, ServeConfig, Server};
use percept::train::Checkpoint;

use crate::support::{Reply, call, checkpoint, pixels_json, png_bytes, shared, test_image};

fn start(config: ServeConfig) -> RunningServer {
    let checkpoint = Checkpoint::load(checkpoint()).expect("loads");
    Server::new(checkpoint, config).expect("a classifier").spawn("127.0.0.1:0").expect("binds")
}

fn post(addr: SocketAddr, path: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    call(addr, "POST", path, Some(content_type), body)
}

/// The model's own classes for test images `indices`, from the checkpoint directly.
fn direct_classes(indices: &[usize]) -> Vec<usize> {
    let mut model = Checkpoint::load(checkpoint()).unwrap().model().unwrap();
    let pixels: Vec<f32> = indices.iter().flat_map(|&i| test_image(i).0).collect();
    let output = model.forward(&Matrix::from_vec(indices.len(), 784, pixels), Mode::Eval).unwrap();
    output.row_iter().map(percept::linalg::argmax).collect()
}

#[test]
fn every_endpoint_answers() {
    let _machine = shared();
    let server = start(ServeConfig::default());
    let addr = server.addr();

    let page = call(addr, "GET", "/", None, vec![]);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"), "{}", page.content_type);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<canvas id=\"canvas\"") && html.contains("fetch(\"predict\""));
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere");

    let health = call(addr, "GET", "/healthz", None, vec![]);
    assert_eq!((health.status, health.json()), (200, serde_json::json!({ "status": "ok" })));

    let info = call(addr, "GET", "/model", None, vec![]).json();
    let saved = Checkpoint::load(checkpoint()).unwrap();
    let model = saved.model().unwrap();
    assert_eq!(info["parameters"], model.num_parameters());
    assert_eq!(info["inputs"], 784);
    assert_eq!(info["layers"][0]["layer"], "Linear(784 → 128)");
    assert_eq!(info["layers"].as_array().unwrap().len(), 3);
    assert_eq!(info["dataset"], "mnist");
    assert_eq!(info["class_names"], serde_json::json!(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]));
    let recorded = saved.history.last().unwrap().validation_accuracy.unwrap();
    assert_eq!(info["accuracy"]["validation"].as_f64().unwrap() as f32, recorded);
    assert!(recorded > 0.85, "{recorded}");

    // One image as JSON, in 0..1 and in 0..255, and as PNG: the model's own class each time.
    let indices: Vec<usize> = (0..20).collect();
    let expected = direct_classes(&indices);
    for (&index, &class) in indices.iter().zip(&expected) {
        let (pixels, _) = test_image(index);
        let answer = post(addr, "/predict", "application/json", pixels_json(&pixels));
        assert_eq!(answer.status, 200, "{:?}", String::from_utf8_lossy(&answer.body));
        let answer = answer.json();
        assert_eq!(answer["class"], class, "test image {index}");
        assert_eq!(answer["label"], class.to_string());
        let probabilities: Vec<f64> =
            answer["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        assert_eq!(probabilities.len(), 10);
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        assert!(answer["millis"].as_f64().unwrap() >= 0.0);
        assert!(answer.get("input").is_none(), "only a PNG's prepared input is sent back");

        let bytes: Vec<f32> = pixels.iter().map(|p| (p * 255.0).round()).collect();
        let answer = post(addr, "/predict", "application/json; charset=utf-8", pixels_json(&bytes)).json();
        assert_eq!(answer["class"], class, "test image {index} in 0..255");

        let grey: Vec<u8> = pixels.iter().map(|p| (p * 255.0).round() as u8).collect();
        let answer = post(addr, "/predict", "image/png", png_bytes(28, 28, &grey)).json();
        assert_eq!(answer["class"], class, "test image {index} as PNG");
        assert_eq!(answer["inverted"], false);
        let input: Vec<f32> =
            answer["input"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        assert_eq!(input.len(), 784);
        assert!(
            input.iter().zip(&pixels).all(|(a, b)| (a - b).abs() < 1e-3),
            "a 28x28 image is used as it is"
        );
    }

    // A large dark-on-light PNG is inverted, prepared, and sent back as the model saw it.
    let (pixels, _) = test_image(0);
    let (width, height) = (250usize, 180usize);
    let mut page = vec![255u8; width * height];
    for y in 0..140 {
        for x in 0..140 {
            page[(y + 20) * width + x + 90] = 255 - (pixels[(y / 5) * 28 + x / 5] * 255.0) as u8;
        }
    }
    let answer = post(addr, "/predict", "image/png", png_bytes(width as u32, height as u32, &page)).json();
    assert_eq!(
        (answer["class"].as_u64(), answer["inverted"].as_bool()),
        (Some(expected[0] as u64), Some(true))
    );
    assert_eq!(answer["input"].as_array().unwrap().len(), 784);

    // A batch: one prediction per image, in order, as the model makes them.
    let images: Vec<Vec<f32>> = indices.iter().map(|&i| test_image(i).0).collect();
    let body = serde_json::to_vec(&serde_json::json!({ "images": images })).unwrap();
    let answer = post(addr, "/predict/batch", "application/json", body).json();
    let classes: Vec<usize> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["class"].as_u64().unwrap() as usize)
        .collect();
    assert_eq!(classes, expected);
    assert!(answer["millis"].as_f64().unwrap() >= 0.0);
    server.shutdown().expect("stops cleanly");
}

/// The answer must be a JSON error with `status`, whose message contains `says`.
#[track_caller]
fn assert_error(reply: &Reply, status: u16, says: &str) {
    assert_eq!(reply.status, status, "{:?}", String::from_utf8_lossy(&reply.body));
    assert!(reply.content_type.starts_with("application/json"), "{}", reply.content_type);
    let body = reply.json();
    assert_eq!(body["status"], status);
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} does not say {says:?}");
}

#[test]
fn bad_requests_get_json_errors_and_the_server_keeps_serving() {
    let _machine = shared();
    let config = ServeConfig { max_batch: 8, ..ServeConfig::default() };
    let server = start(config);
    let addr = server.addr();
    let json = "application/json";
    let (pixels, _) = test_image(1);
    let good = pixels_json(&pixels);

    // Malformed JSON (400), and JSON of the wrong shape (422).
    assert_error(&post(addr, "/predict", json, "{\"pixels\": [0.1, 0.2"), 400, "malformed JSON");
    assert_error(&post(addr, "/predict", json, "not json"), 400, "malformed JSON");
    assert_error(&post(addr, "/predict", json, "{\"pixel\": [0.5]}"), 422, "unexpected JSON");
    assert_error(&post(addr, "/predict", json, "{\"pixels\": \"all of them\"}"), 422, "unexpected JSON");
    // The wrong number of pixels (422).
    assert_error(
        &post(addr, "/predict", json, "{\"pixels\": [0.5, 0.5]}"),
        422,
        "pixels: expected 784 pixels, got 2",
    );
    assert_error(&post(addr, "/predict", json, "{\"pixels\": []}"), 422, "expected 784 pixels, got 0");
    // NaN is not JSON (400); as a string it is not a number (422); out-of-range pixels (422).
    let with = |value: &str| {
        let mut values: Vec<String> = pixels.iter().map(|p| p.to_string()).collect();
        values[300] = value.to_string();
        format!("{{\"pixels\": [{}]}}", values.join(","))
    };
    assert_error(&post(addr, "/predict", json, with("NaN")), 400, "malformed JSON");
    assert_error(&post(addr, "/predict", json, with("\"NaN\"")), 422, "unexpected JSON");
    assert_error(&post(addr, "/predict", json, with("-0.5")), 422, "pixels[300] is -0.5");
    assert_error(&post(addr, "/predict", json, with("256")), 422, "pixels[300] is 256");
    assert_error(&post(addr, "/predict", json, with("1e39")), 422, "pixels[300] is 1000000000");
    // Content types other than JSON and PNG (415), and PNG where only JSON is taken.
    assert_error(&call(addr, "POST", "/predict", None, good.clone()), 415, "unsupported content type");
    assert_error(&post(addr, "/predict", "text/plain", good.clone()), 415, "\"text/plain\"");
    assert_error(&post(addr, "/predict", "image/jpeg", vec![0xff, 0xd8]), 415, "image/jpeg");
    assert_error(&post(addr, "/predict/batch", "image/png", png_bytes(1, 1, &[0])), 415, "image/png");
    // Bodies over the 2 MiB limit (413).
    let huge = format!("{{\"pixels\": [{}]}}", vec!["0.5"; 800_000].join(","));
    assert!(huge.len() > 2 << 20);
    assert_error(&post(addr, "/predict", json, huge), 413, "request body over the 2097152-byte limit");
    // Images: a decompression bomb (413), truncated or not an image at all (400), blank (422).
    let bomb = bomb_png(20_000, 20_000);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    assert_error(&post(addr, "/predict", "image/png", bomb), 413, "declares 20000x20000 pixels");
    let whole = png_bytes(60, 60, &[200; 3600]);
    assert_error(
        &post(addr, "/predict", "image/png", whole[..whole.len() - 25].to_vec()),
        400,
        "request body: PNG",
    );
    assert_error(&post(addr, "/predict", "image/png", "hello"), 400, "not a PNG or PGM image");
    assert_error(&post(addr, "/predict", "image/png", whole), 422, "the image is blank");
    // Batches: empty (422), too many (413), one bad image named by its index (422).
    assert_error(&post(addr, "/predict/batch", json, "{\"images\": []}"), 422, "a batch of 0 images");
    let nine = serde_json::to_vec(&serde_json::json!({ "images": vec![pixels.clone(); 9] })).unwrap();
    assert_error(&post(addr, "/predict/batch", json, nine), 413, "a batch of 9 images: send 1 to 8");
    let mut short = vec![pixels.clone(); 3];
    short[2].truncate(100);
    let short = serde_json::to_vec(&serde_json::json!({ "images": short })).unwrap();
    assert_error(&post(addr, "/predict/batch", json, short), 422, "images[2]: expected 784 pixels, got 100");
    // Paths and methods that do not exist (404, 405).
    assert_error(&call(addr, "GET", "/predict/nothing", None, vec![]), 404, "no such endpoint");
    assert_error(&call(addr, "GET", "/predict", None, vec![]), 405, "method not allowed");
    assert_error(&call(addr, "DELETE", "/model", None, vec![]), 405, "method not allowed");
    // Still serving, and still right.
    assert_eq!(call(addr, "GET", "/healthz", None, vec![]).status, 200);
    let answer = post(addr, "/predict", json, good).json();
    assert_eq!(answer["class"], direct_classes(&[1])[0]);
    server.shutdown().expect("stops cleanly");
}

/// A real PNG of `width × height` black pixels (a few hundred kilobytes that decode to
/// `width * height` bytes).
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut header = encoder.write_header().unwrap();
    let mut writer = header.stream_writer().unwrap();
    let row = vec![0u8; width as usize];
    for _ in 0..height {
        writer.write_all(&row).unwrap();
    }
    writer.finish().unwrap();
    header.finish().unwrap();
    bytes
}

#[test]
fn a_body_too_large_to_announce_and_a_body_too_slow_to_arrive() {
    let _machine = shared();
    let server = start(ServeConfig { timeout: Duration::from_millis(500), ..ServeConfig::default() });
    let addr = server.addr();
    // Chunked, so no Content-Length to refuse it by: cut off at the limit while it streams.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..40 {
        if write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(&chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_err()
        {
            break; // the server has answered and closed
        }
    }
    let reply = read_reply(stream);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("\"request body over the 2097152-byte limit\""), "{reply}");

    // Headers announce a body that never comes: 408 after the timeout, as JSON.
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"pix").unwrap();
    let reply = read_reply(stream);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"no answer within 500ms\""), "{reply}");
    assert_eq!(call(addr, "GET", "/healthz", None, vec![]).status, 200);
}

fn read_reply(mut stream: std::net::TcpStream) -> String {
    use std::io::Read;
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).to_string()
}

#[test]
fn percept_serve_answers_then_stops_cleanly_on_ctrl_c() {
    let _machine = shared();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_percept"))
        .args(["serve", "--checkpoint", checkpoint().to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    let url =
        first.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{first}"));
    let addr: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    assert_eq!(call(addr, "GET", "/healthz", None, vec![]).status, 200);
    let (pixels, _) = test_image(2);
    assert_eq!(
        post(addr, "/predict", "application/json", pixels_json(&pixels)).json()["class"],
        direct_classes(&[2])[0]
    );

    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(rest, ["stopped"]);
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer listening");
}
