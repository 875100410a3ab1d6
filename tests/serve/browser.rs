//! The draw-a-digit page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini). Digits from MNIST's test set are thinned to their
//! skeletons, traced into strokes, and drawn on the page's canvas with pointer events: a
//! mouse on a desktop-sized window, a finger (touch) on a phone-sized one. The page must show
//! each digit's class, and screenshots of both are saved to target/screenshots/ for a person
//! to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`apt-get install chromium
//! chromium-driver`; .ci/run installs them). Without them the test fails, saying so, unless
//! `PERCEPT_SKIP_BROWSER_TEST=1` is set, which skips it (and prints that it did).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{checkpoint, shared, test_image};
use fantoccini::actions::{InputSource, MouseActions, PointerAction, TouchActions};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use percept::serve::{ServeConfig, Server};
use percept::train::Checkpoint;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Test images drawn on the desktop page (the first of each class in MNIST's test set, for
/// 0, 2, 3, 4, 7) and on the phone page (1 and 9).
const DESKTOP_DIGITS: [usize; 5] = [3, 1, 18, 4, 0];
const PHONE_DIGITS: [usize; 2] = [2, 7];

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp is in target");
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

/// A free port on 127.0.0.1 (the OS picks it; chromedriver takes it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Zhang and Suen's thinning ("A fast parallel algorithm for thinning digital patterns",
/// CACM 1984) of a 28 × 28 image's ink (grey level above one half): one-pixel-wide lines
/// along the middle of the strokes.
fn skeleton(pixels: &[f32]) -> Vec<bool> {
    let mut on: Vec<bool> = pixels.iter().map(|&v| v > 0.5).collect();
    loop {
        let mut changed = false;
        for step in 0..2 {
            let mut remove = Vec::new();
            for y in 1..27 {
                for x in 1..27 {
                    if !on[y * 28 + x] {
                        continue;
                    }
                    // P2..P9: north, then clockwise.
                    let p = [
                        on[(y - 1) * 28 + x],
                        on[(y - 1) * 28 + x + 1],
                        on[y * 28 + x + 1],
                        on[(y + 1) * 28 + x + 1],
                        on[(y + 1) * 28 + x],
                        on[(y + 1) * 28 + x - 1],
                        on[y * 28 + x - 1],
                        on[(y - 1) * 28 + x - 1],
                    ];
                    let neighbours = p.iter().filter(|&&b| b).count();
                    let transitions = (0..8).filter(|&i| !p[i] && p[(i + 1) % 8]).count();
                    // Step 1 keeps P2·P4·P6 = 1 or P4·P6·P8 = 1; step 2 keeps P2·P4·P8 = 1 or
                    // P2·P6·P8 = 1.
                    let keep = if step == 0 {
                        p[2] && p[4] && (p[0] || p[6])
                    } else {
                        p[0] && p[6] && (p[2] || p[4])
                    };
                    if (2..=6).contains(&neighbours) && transitions == 1 && !keep {
                        remove.push(y * 28 + x);
                    }
                }
            }
            changed |= !remove.is_empty();
            for index in remove {
                on[index] = false;
            }
        }
        if !changed {
            return on;
        }
    }
}

/// The skeleton as pen strokes: each starts at a line's end (the pixel with the fewest
/// neighbours left) and follows neighbouring pixels, straight ones first, until none is
/// left; then the next stroke starts.
fn strokes(skeleton: &[bool]) -> Vec<Vec<(usize, usize)>> {
    let mut left = skeleton.to_vec();
    let around = |index: usize, straight: bool| {
        let (x, y) = ((index % 28) as i32, (index / 28) as i32);
        let offsets: &[(i32, i32)] = if straight {
            &[(0, -1), (1, 0), (0, 1), (-1, 0)]
        } else {
            &[(1, -1), (1, 1), (-1, 1), (-1, -1)]
        };
        offsets
            .iter()
            .map(move |(dx, dy)| (x + dx, y + dy))
            .filter(|&(x, y)| (0..28).contains(&x) && (0..28).contains(&y))
            .map(|(x, y)| (y * 28 + x) as usize)
            .collect::<Vec<_>>()
    };
    let mut strokes = Vec::new();
    loop {
        let remaining = (0..784).filter(|&i| left[i]);
        let count =
            |i: usize| around(i, true).into_iter().chain(around(i, false)).filter(|&n| left[n]).count();
        let Some(start) = remaining.min_by_key(|&i| (count(i), i)) else { return strokes };
        left[start] = false;
        let mut stroke = vec![(start % 28, start / 28)];
        let mut at = start;
        while let Some(next) = around(at, true).into_iter().chain(around(at, false)).find(|&n| left[n]) {
            left[next] = false;
            stroke.push((next % 28, next / 28));
            at = next;
        }
        strokes.push(stroke);
    }
}

/// Pointer moves that draw `digit`'s strokes over `canvas` (`side` CSS pixels wide), with
/// the digit's 28 × 28 field filling the canvas.
fn strokes_as_actions(digit: &[f32], canvas: &Element, side: f64) -> Vec<PointerAction> {
    let scale = side / 28.0;
    let mut actions = Vec::new();
    for stroke in strokes(&skeleton(digit)) {
        let to = |&(x, y): &(usize, usize)| PointerAction::MoveToElement {
            element: canvas.clone(),
            duration: Some(Duration::from_millis(12)),
            x: (x as f64 + 0.5 - 14.0) * scale,
            y: (y as f64 + 0.5 - 14.0) * scale,
        };
        actions.push(to(&stroke[0]));
        actions.push(PointerAction::Down { button: fantoccini::actions::MOUSE_BUTTON_LEFT });
        actions.extend(stroke.iter().skip(1).map(to));
        actions.push(PointerAction::Up { button: fantoccini::actions::MOUSE_BUTTON_LEFT });
    }
    actions
}

async fn connect(port: u16, options: serde_json::Value) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let started = Instant::now();
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return client,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("chromedriver on port {port} gave no session: {e}"),
        }
    }
}

/// Chrome's options: headless, and nothing that reaches for the network (on an offline
/// machine those connections hang), in a fresh profile.
fn chrome_options(profile: &Path, extra: serde_json::Value) -> serde_json::Value {
    let mut options = serde_json::json!({
        "binary": CHROMIUM,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let (Some(options), Some(extra)) = (options.as_object_mut(), extra.as_object()) {
        options.extend(extra.clone());
    }
    options
}

async fn js(client: &Client, script: &str) -> serde_json::Value {
    client.execute(script, vec![]).await.expect("the script runs")
}

/// Waits until the page has answered every drawing sent (`data-busy` back to 0).
async fn settled(client: &Client) {
    let started = Instant::now();
    while js(client, "return document.body.dataset.busy").await != "0" {
        assert!(started.elapsed() < Duration::from_secs(20), "the page never got its prediction");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Draws each test image of `indices` (after clearing) and returns the label the page shows
/// for each.
async fn draw_digits(client: &Client, indices: &[usize], touch: bool) -> Vec<String> {
    let canvas = client.find(Locator::Id("canvas")).await.expect("the canvas");
    let side = js(client, "return document.getElementById('canvas').getBoundingClientRect().width").await;
    let side = side.as_f64().expect("a width");
    let mut shown = Vec::new();
    for &index in indices {
        client.find(Locator::Id("clear")).await.unwrap().click().await.unwrap();
        let (pixels, _) = test_image(index);
        let actions = strokes_as_actions(&pixels, &canvas, side);
        if touch {
            let mut finger = TouchActions::new("finger".into());
            for action in actions {
                finger = finger.then(action);
            }
            client.perform_actions(finger).await.expect("touch strokes");
        } else {
            let mut mouse = MouseActions::new("mouse".into());
            for action in actions {
                mouse = mouse.then(action);
            }
            client.perform_actions(mouse).await.expect("mouse strokes");
        }
        settled(client).await;
        shown.push(client.find(Locator::Id("prediction")).await.unwrap().text().await.unwrap());
    }
    shown
}

#[test]
fn a_digit_drawn_on_the_page_is_recognised_on_desktop_and_phone() {
    let found = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !found {
        if std::env::var_os("PERCEPT_SKIP_BROWSER_TEST").is_some_and(|v| v == "1") {
            eprintln!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing, and PERCEPT_SKIP_BROWSER_TEST=1");
            return;
        }
        panic!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing: `apt-get install chromium chromium-driver` \
             (or set PERCEPT_SKIP_BROWSER_TEST=1 to skip this test)"
        );
    }
    let _machine = shared();
    let checkpoint = Checkpoint::load(checkpoint()).expect("loads");
    let server = Server::new(checkpoint, ServeConfig::default()).unwrap().spawn("127.0.0.1:0").unwrap();
    let url = server.url();
    let port = free_port();
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let _driver = Driver(driver);
    let profiles = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium-profiles");
    let _ = std::fs::remove_dir_all(&profiles);
    let screenshots = screenshot_dir();
    let labels = |indices: &[usize]| indices.iter().map(|&i| test_image(i).1.to_string()).collect::<Vec<_>>();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // A desktop window, drawn on with a mouse.
        let options = chrome_options(&profiles.join("desktop"), serde_json::json!({}));
        let client = connect(port, options).await;
        client.set_window_size(1100, 760).await.unwrap();
        client.goto(&url).await.unwrap();
        let info = client.find(Locator::Id("model-info")).await.unwrap();
        let started = Instant::now();
        while !info.text().await.unwrap().contains("parameters") {
            assert!(started.elapsed() < Duration::from_secs(10), "the page never described the model");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let shown = draw_digits(&client, &DESKTOP_DIGITS, false).await;
        let screenshot = client.screenshot().await.unwrap();
        std::fs::write(screenshots.join("serve-desktop.png"), screenshot).unwrap();
        assert_eq!(shown, labels(&DESKTOP_DIGITS), "drawn with a mouse");
        // The bars: one per class, the widest for the class shown.
        tokio::time::sleep(Duration::from_millis(300)).await; // the bars' transition
        let bars = js(&client, "return [...document.querySelectorAll('#bars li')].map(li => \
                                li.querySelector('.fill').getBoundingClientRect().width / \
                                li.querySelector('.track').getBoundingClientRect().width)").await;
        let widths: Vec<f64> = bars.as_array().unwrap().iter().map(|w| w.as_f64().unwrap()).collect();
        assert_eq!(widths.len(), 10);
        let widest = widths.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(widest.to_string(), shown[shown.len() - 1]);
        assert!(widths[widest] > 0.5 && widths.iter().sum::<f64>() < 1.01, "drawn bar widths {widths:?}");
        // The 28 x 28 image the model saw, drawn on the page: some ink, on black.
        let ink = js(&client, "const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data; \
                               let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 128) lit++; \
                               return [lit, d[0]]").await;
        let (lit, corner) = (ink[0].as_u64().unwrap(), ink[1].as_u64().unwrap());
        assert!((20..400).contains(&lit) && corner == 0, "{lit} lit pixels, corner {corner}");
        client.close().await.unwrap();

        // A phone: 390 x 844 CSS pixels at twice the density, drawn on with a finger.
        let phone = serde_json::json!({ "mobileEmulation": { "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2.0, "touch": true } } });
        let client = connect(port, chrome_options(&profiles.join("phone"), phone)).await;
        client.goto(&url).await.unwrap();
        let shown = draw_digits(&client, &PHONE_DIGITS, true).await;
        let screenshot = client.screenshot().await.unwrap();
        std::fs::write(screenshots.join("serve-phone.png"), screenshot).unwrap();
        assert_eq!(shown, labels(&PHONE_DIGITS), "drawn with a finger");
        // The guess shows below the canvas without scrolling.
        let bottom = js(&client, "return document.getElementById('prediction').getBoundingClientRect().bottom").await;
        assert!(bottom.as_f64().unwrap() <= 844.0, "the guess ends {bottom} px down a 844 px screen");
        // Nothing wider than the screen; the canvas fits it.
        let fit = js(&client, "return [document.documentElement.scrollWidth, window.innerWidth, \
                               document.getElementById('canvas').getBoundingClientRect().right]").await;
        let (scroll, inner, right) = (fit[0].as_f64().unwrap(), fit[1].as_f64().unwrap(), fit[2].as_f64().unwrap());
        assert!(scroll <= inner && right <= inner, "page {scroll} px wide, canvas to {right}, screen {inner}");
        client.close().await.unwrap();
    });
    server.shutdown().unwrap();
}
