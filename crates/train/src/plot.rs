//! Plots as SVG files: the training curves of a [`History`], the lab's "watch the weights"
//! (the largest absolute weight of each layer after every epoch, recorded by [`WeightWatch`]),
//! and the lesson's map of a classifier's decisions over a plane of two features.
//!
//! Drawn with plotters' SVG backend, which needs no system fonts or libraries: the files name a
//! `sans-serif` font and any browser or image viewer renders them. Each file is written to a
//! temporary name and renamed, as checkpoints are.

use std::cell::RefCell;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use percept_data::{Dataset, Labels};
use percept_linalg::{Matrix, argmax_rows};
use percept_nn::{Mode, Sequential};
use plotters::prelude::*;

use crate::{Callback, Control, EpochRecord, History};

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// There is nothing to draw (no epoch recorded).
    #[error("{path}: nothing to plot: {what}")]
    Empty {
        /// The file that was to be written.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// Writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model or the data cannot be drawn this way.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The file that was to be written.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The drawing library refused the figure.
    #[error("{path}: cannot draw the plot: {reason}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// plotters' message.
        reason: String,
    },
}

/// One line of a chart: its legend and its points `(epoch, value)`.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
}

/// One chart: a title, the y axis' name, and its lines.
struct Panel {
    title: &'static str,
    y_label: &'static str,
    lines: Vec<Line>,
}

/// Colours of the lines, in order (the first two: training, validation).
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Width and height of one chart, in pixels.
const PANEL: (u32, u32) = (480, 360);

/// Writes the training curves of `history` to `path` as SVG: the loss per epoch (training, and
/// validation when there is a validation set) and, for classification, the accuracy in
/// percent beside it. Keras users get the same from `history.history`, PyTorch users draw it
/// by hand.
///
/// # Errors
/// [`PlotError`] naming the file: no epochs, or the file cannot be written.
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), PlotError> {
    plot_history_labelled(history, path, "validation")
}

/// [`plot_history`] with the evaluated data's lines called `label` instead of "validation":
/// "test" for a test set watched as a benchmark (see [`crate::Trainer::validation_label`]).
///
/// # Errors
/// As [`plot_history`].
pub fn plot_history_labelled(
    history: &History,
    path: impl AsRef<Path>,
    label: &str,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    if history.epochs.is_empty() {
        return Err(PlotError::Empty { path: path.to_path_buf(), what: "the history has no epochs" });
    }
    let series = |label: &str, value: &dyn Fn(&EpochRecord) -> Option<f32>, scale: f64| {
        let points: Vec<(f64, f64)> = history
            .epochs
            .iter()
            .filter_map(|e| value(e).map(|v| (e.epoch as f64, v as f64 * scale)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        (!points.is_empty()).then(|| Line { label: label.to_string(), points })
    };
    let loss = Panel {
        title: "loss",
        y_label: "loss",
        lines: [series("training", &|e| Some(e.train_loss), 1.0), series(label, &|e| e.validation_loss, 1.0)]
            .into_iter()
            .flatten()
            .collect(),
    };
    let accuracy = Panel {
        title: "accuracy",
        y_label: "accuracy (%)",
        lines: [
            series("training", &|e| e.train_accuracy, 100.0),
            series(label, &|e| e.validation_accuracy, 100.0),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let panels: Vec<Panel> = [loss, accuracy].into_iter().filter(|p| !p.lines.is_empty()).collect();
    if panels.is_empty() {
        return Err(PlotError::Empty { path: path.to_path_buf(), what: "every loss is NaN or infinite" });
    }
    write_svg(path, &panels)
}

/// The lab's "watch the weights": after every epoch, the largest absolute value of each
/// layer's `weight` parameter. A handle: clones share one record, so keep a clone and give
/// the trainer another.
///
/// ```
/// use percept_train::{FitConfig, Trainer, WeightWatch};
/// let watch = WeightWatch::new();
/// let mut trainer = Trainer::new(FitConfig::default());
/// trainer.callback(watch.clone());
/// // ... trainer.fit(...), then:
/// assert!(watch.log().epochs.is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct WeightWatch {
    log: Rc<RefCell<WeightLog>>,
}

/// What a [`WeightWatch`] recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeightLog {
    /// The watched layers: index and description, such as `0 Linear(784 → 128)`.
    pub layers: Vec<String>,
    /// One entry per observation: the epoch (0 before training), then the largest absolute
    /// weight of each watched layer, in the order of `layers`.
    pub epochs: Vec<(usize, Vec<f32>)>,
}

impl WeightWatch {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `model`'s weights as they are now, as epoch `epoch` (0 for the initial
    /// weights, before training; the trainer records epochs 1, 2, … itself).
    pub fn observe(&self, epoch: usize, model: &mut Sequential) {
        let mut layers = Vec::new();
        let mut largest = Vec::new();
        for (index, layer) in model.layers_mut().iter_mut().enumerate() {
            let mut max = None;
            layer.visit_parameters(&mut |p| {
                if p.name == "weight" {
                    max = Some(p.value.max_abs());
                }
            });
            if let Some(max) = max {
                layers.push(format!("{index} {}", layer.describe()));
                largest.push(max);
            }
        }
        let mut log = self.log.borrow_mut();
        log.layers = layers;
        log.epochs.push((epoch, largest));
    }

    /// A copy of what was recorded so far.
    pub fn log(&self) -> WeightLog {
        self.log.borrow().clone()
    }

    /// Writes the record to `path` as SVG: one line per layer, the largest absolute weight
    /// against the epoch.
    ///
    /// # Errors
    /// [`PlotError`] naming the file: nothing recorded, or the file cannot be written.
    pub fn plot(&self, path: impl AsRef<Path>) -> Result<(), PlotError> {
        let path = path.as_ref();
        let log = self.log.borrow();
        if log.epochs.is_empty() || log.layers.is_empty() {
            return Err(PlotError::Empty { path: path.to_path_buf(), what: "no weights were recorded" });
        }
        let lines = log
            .layers
            .iter()
            .enumerate()
            .map(|(k, label)| Line {
                label: label.clone(),
                points: log
                    .epochs
                    .iter()
                    .filter_map(|(epoch, values)| values.get(k).map(|&v| (*epoch as f64, v as f64)))
                    .collect(),
            })
            .collect();
        write_svg(path, &[Panel { title: "largest absolute weight", y_label: "max |w|", lines }])
    }
}

impl Callback for WeightWatch {
    fn on_epoch_end(&mut self, record: &EpochRecord, model: &mut Sequential) -> Control {
        self.observe(record.epoch, model);
        Control::Continue
    }
}

/// Cells per side of the grid [`plot_decision_boundary`] classifies.
const GRID: usize = 150;

/// Writes the lesson's decision map to `path` as SVG: the plane of a two-feature data set
/// (its points' range, with a margin) shaded by the class `model` predicts at each point of a
/// 150 × 150 grid, and the data set's points on top, coloured by their true class. A straight
/// boundary shows a linear model; a bent one, what a hidden layer adds.
///
/// # Errors
/// [`PlotError`] naming the file: data without two features or without classes, a model
/// whose output is not one column per class, or the file cannot be written.
pub fn plot_decision_boundary(
    model: &mut Sequential,
    data: &dyn Dataset,
    path: impl AsRef<Path>,
) -> Result<(), PlotError> {
    let path = path.as_ref();
    let unsupported = |reason: String| PlotError::Unsupported { path: path.to_path_buf(), reason };
    if data.num_features() != 2 || data.is_empty() {
        return Err(unsupported(format!(
            "a decision map needs samples of 2 features, got {} samples of {}",
            data.len(),
            data.num_features()
        )));
    }
    let all: Vec<usize> = (0..data.len()).collect();
    let (mut points, mut labels) = (Matrix::default(), Labels::default());
    data.gather(&all, &mut points, &mut labels);
    let Labels::Classes(classes) = labels else {
        return Err(unsupported("a decision map needs class labels, not regression targets".into()));
    };
    let points = &points;
    let column = |j: usize| (0..points.rows()).map(move |i| points.get(i, j) as f64);
    let range = |j: usize| {
        let (lo, hi) = column(j).fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let pad = if hi > lo { 0.1 * (hi - lo) } else { 1.0 };
        lo - pad..hi + pad
    };
    let (x, y) = (range(0), range(1));
    let step = |r: &Range<f64>| (r.end - r.start) / GRID as f64;
    let (dx, dy) = (step(&x), step(&y));
    // Cell (row r, column c) is classified at its centre; row 0 at the bottom.
    let grid = Matrix::from_fn(GRID * GRID, 2, |i, j| {
        let (r, c) = (i / GRID, i % GRID);
        let v = if j == 0 { x.start + (c as f64 + 0.5) * dx } else { y.start + (r as f64 + 0.5) * dy };
        v as f32
    });
    let output = model.forward(&grid, Mode::Eval).map_err(|e| unsupported(e.to_string()))?;
    let class_count = classes.iter().max().map_or(0, |&c| c + 1);
    if output.cols() < 2 || output.cols() < class_count {
        return Err(unsupported(format!(
            "a decision map needs one output per class ({class_count} classes), but the model gives {}",
            output.cols()
        )));
    }
    let mut predicted = vec![0usize; GRID * GRID];
    argmax_rows(output, &mut predicted);
    let err = |e: &dyn std::fmt::Display| PlotError::Draw { path: path.to_path_buf(), reason: e.to_string() };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (PANEL.1 + 80, PANEL.1)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x.clone(), y.clone())
            .map_err(|e| err(&e))?;
        // One rectangle per run of equal cells in a row, not one per cell: a few hundred
        // elements instead of 22,500.
        let mut runs = Vec::new();
        for r in 0..GRID {
            let row = &predicted[r * GRID..(r + 1) * GRID];
            let mut start = 0;
            for c in 1..=GRID {
                if c == GRID || row[c] != row[start] {
                    let corner = |c: usize, r: usize| (x.start + c as f64 * dx, y.start + r as f64 * dy);
                    runs.push((corner(start, r), corner(c, r + 1), row[start]));
                    start = c;
                }
            }
        }
        chart
            .draw_series(runs.into_iter().map(|(a, b, class)| {
                Rectangle::new([a, b], COLOURS[class % COLOURS.len()].mix(0.25).filled())
            }))
            .map_err(|e| err(&e))?;
        chart.configure_mesh().disable_mesh().draw().map_err(|e| err(&e))?;
        chart
            .draw_series(
                column(0)
                    .zip(column(1))
                    .zip(&classes)
                    .map(|(p, &class)| Circle::new(p, 2, COLOURS[class % COLOURS.len()].filled())),
            )
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    write_file(path, svg)
}

/// `lo..hi` widened by 5% each way (by 1 when flat), for an axis.
fn padded(lo: f64, hi: f64) -> Range<f64> {
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    lo - pad..hi + pad
}

/// Where a legend hides the fewest points: the corner (a third of each axis) with the fewest
/// of them, upper right on a tie.
fn emptiest_corner(
    points: impl Iterator<Item = (f64, f64)> + Clone,
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    let fraction = |v: f64, r: &Range<f64>| (v - r.start) / (r.end - r.start);
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let inside = |right: bool, upper: bool, (px, py): (f64, f64)| {
        let (fx, fy) = (fraction(px, x), fraction(py, y));
        (if right { fx > 0.55 } else { fx < 0.45 }) && (if upper { fy > 0.65 } else { fy < 0.35 })
    };
    let (best, _) =
        corners
            .into_iter()
            .map(|(position, right, upper)| {
                (position, points.clone().filter(|&p| inside(right, upper, p)).count())
            })
            .fold((SeriesLabelPosition::UpperRight, usize::MAX), |best, (position, n)| {
                if n < best.1 { (position, n) } else { best }
            });
    best
}

/// Draws `panels` side by side into an SVG file at `path` (a temporary file, renamed).
fn write_svg(path: &Path, panels: &[Panel]) -> Result<(), PlotError> {
    let draw =
        |e: &dyn std::fmt::Display| PlotError::Draw { path: path.to_path_buf(), reason: e.to_string() };
    let mut svg = String::new();
    {
        let size = (PANEL.0 * panels.len() as u32, PANEL.1);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let areas = root.split_evenly((1, panels.len()));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(area, panel).map_err(|e| draw(&e))?;
        }
        root.present().map_err(|e| draw(&e))?;
    }
    write_file(path, svg)
}

/// Writes `svg` to a temporary file beside `path`, then renames it into place.
fn write_file(path: &Path, svg: String) -> Result<(), PlotError> {
    let io = |source| PlotError::Io { path: path.to_path_buf(), source };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, svg).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

fn draw_panel(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, panel: &Panel) -> DrawResult<()> {
    let points = || panel.lines.iter().flat_map(|l| l.points.iter().copied());
    let (x_lo, x_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    let (y_lo, y_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| (lo.min(y), hi.max(y)));
    // Epochs are whole numbers: a quarter of an epoch of room each side, a label per epoch
    // (at most about 10), none between.
    let (x_range, y_range) = (x_lo - 0.25..x_hi + 0.25, padded(y_lo, y_hi));
    let legend = emptiest_corner(points(), &x_range, &y_range);
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y_range)?;
    let whole = |x: &f64| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(panel.y_label)
        .x_labels(((x_hi - x_lo) as usize + 1).min(11))
        .x_label_formatter(&whole)
        .light_line_style(WHITE)
        .draw()?;
    for (k, line) in panel.lines.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), colour.stroke_width(2)))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(line.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
}
