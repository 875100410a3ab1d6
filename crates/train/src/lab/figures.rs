//! The lab's figures: SVG charts through plotters (curves, weights, gradient norms, the
//! confusion matrix) and the PNG grid of misclassified digits.

use std::ops::Range;
use std::path::{Path, PathBuf};

use percept_data::ImageDataset;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::results::{LabResults, RunResult};
use super::{LabError, write_atomically};
use crate::PlotError;

/// The files [`run_lab`](super::run_lab) writes besides the report, by name within the
/// output folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figures {
    /// Training and validation accuracy per epoch, one panel per configuration.
    pub curves: String,
    /// Every configuration's validation accuracy in one chart.
    pub validation: String,
    /// The largest absolute weight of each layer per epoch, one panel per configuration.
    pub weights: String,
    /// The mean weight-gradient norm of each layer per epoch (log scale), one panel per
    /// configuration.
    pub gradients: String,
    /// The best configuration's confusion matrix on the test images.
    pub confusion: String,
    /// Misclassified test digits of the best configuration (`None` when it made no mistake).
    pub misclassified: Option<String>,
}

impl Figures {
    /// The files' paths under `out`.
    pub fn paths(&self, out: &Path) -> Vec<PathBuf> {
        [&self.curves, &self.validation, &self.weights, &self.gradients, &self.confusion]
            .into_iter()
            .chain(&self.misclassified)
            .map(|name| out.join(name))
            .collect()
    }
}

/// Writes every figure of `results` into `out`; `test` is the test files (for the digits'
/// pixels), `shown` how many misclassified digits the PNG holds at most.
pub(crate) fn write_figures(
    results: &LabResults,
    test: &ImageDataset,
    out: &Path,
    shown: usize,
) -> Result<Figures, LabError> {
    let figures = Figures {
        curves: "curves.svg".into(),
        validation: "validation.svg".into(),
        weights: "weights.svg".into(),
        gradients: "gradients.svg".into(),
        confusion: "confusion.svg".into(),
        misclassified: None,
    };
    write_curves(results, &out.join(&figures.curves))?;
    write_validation(results, &out.join(&figures.validation))?;
    write_layer_panels(results, &out.join(&figures.weights), LayerFigure::Weights)?;
    write_layer_panels(results, &out.join(&figures.gradients), LayerFigure::Gradients)?;
    let best = results.best_run().ok_or_else(|| LabError::Config("no configuration was trained".into()))?;
    write_confusion(best, &out.join(&figures.confusion))?;
    let mistakes: Vec<_> = best.misclassified.iter().take(shown).copied().collect();
    let misclassified = if mistakes.is_empty() {
        None
    } else {
        let name = "misclassified.png".to_string();
        let png = super::digits::misclassified_grid(test, &mistakes)
            .map_err(|reason| PlotError::Unsupported { path: out.join(&name), reason })?;
        write_atomically(&out.join(&name), &png)?;
        Some(name)
    };
    Ok(Figures { misclassified, ..figures })
}

/// Ten distinct colours (matplotlib's "tab10"), one per configuration or layer.
const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a chart.
struct Line {
    label: String,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    dashed: bool,
}

/// One chart.
struct Panel {
    title: String,
    lines: Vec<Line>,
}

/// How a chart's y axis reads.
#[derive(Clone, Copy)]
struct Axis {
    label: &'static str,
    /// Values are log10 of the quantity; labels show the quantity.
    log: bool,
}

fn draw_error(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> PlotError + '_ {
    move |e| PlotError::Draw { path: path.to_path_buf(), reason: e.to_string() }
}

fn finite_points(points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
    points.filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
}

/// Training and validation accuracy per epoch, one panel per configuration.
fn write_curves(results: &LabResults, path: &Path) -> Result<(), LabError> {
    let percent = |run: &RunResult, value: fn(&super::EpochResult) -> f32| {
        finite_points(run.epochs.iter().map(|e| (e.epoch as f64, 100.0 * value(e) as f64)))
    };
    let panels: Vec<Panel> = results
        .runs
        .iter()
        .map(|run| Panel {
            title: run.name.clone(),
            lines: vec![
                Line {
                    label: "training".into(),
                    points: percent(run, |e| e.train_accuracy),
                    colour: COLOURS[0],
                    dashed: false,
                },
                Line {
                    label: "validation".into(),
                    points: percent(run, |e| e.validation_accuracy),
                    colour: COLOURS[1],
                    dashed: false,
                },
            ],
        })
        .collect();
    write_grid(path, &panels, Axis { label: "accuracy (%)", log: false }, false)
}

/// Every configuration's validation accuracy in one chart.
fn write_validation(results: &LabResults, path: &Path) -> Result<(), LabError> {
    let lines = results
        .runs
        .iter()
        .enumerate()
        .map(|(k, run)| Line {
            label: run.name.clone(),
            points: finite_points(
                run.epochs.iter().map(|e| (e.epoch as f64, 100.0 * e.validation_accuracy as f64)),
            ),
            colour: COLOURS[k % COLOURS.len()],
            dashed: k >= COLOURS.len(),
        })
        .collect();
    let panel = Panel { title: "validation accuracy per epoch".into(), lines };
    let axis = Axis { label: "validation accuracy (%)", log: false };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path)(&e))?;
        draw_panel(&root, &panel, axis, None, 18).map_err(|e| draw_error(path)(&e))?;
        root.present().map_err(|e| draw_error(path)(&e))?;
    }
    write_atomically(path, svg.as_bytes())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LayerFigure {
    Weights,
    Gradients,
}

/// One panel per configuration, one line per `Linear` layer: the largest absolute weight
/// per epoch (from epoch 0, the initialization), or the mean weight-gradient norm (log
/// scale, the same range in every panel so that panels compare).
fn write_layer_panels(results: &LabResults, path: &Path, figure: LayerFigure) -> Result<(), LabError> {
    let panels: Vec<Panel> = results
        .runs
        .iter()
        .map(|run| {
            let count = run.layers.len();
            let lines = (0..count)
                .map(|k| {
                    let label = match (k, count) {
                        (0, 1) => "layer 1 (output)".to_string(),
                        (k, n) if k + 1 == n => format!("layer {} (output)", k + 1),
                        (k, _) => format!("layer {}", k + 1),
                    };
                    let points = match figure {
                        LayerFigure::Weights => {
                            let initial = run.initial_max_abs_weight.get(k).map(|&w| (0.0, w as f64));
                            let later = run.epochs.iter().filter_map(|e| {
                                e.layers.get(k).map(|l| (e.epoch as f64, l.max_abs_weight as f64))
                            });
                            finite_points(initial.into_iter().chain(later))
                        }
                        LayerFigure::Gradients => finite_points(run.epochs.iter().filter_map(|e| {
                            e.layers
                                .get(k)
                                .filter(|l| l.mean_weight_grad_norm > 0.0)
                                .map(|l| (e.epoch as f64, (l.mean_weight_grad_norm as f64).log10()))
                        })),
                    };
                    Line { label, points, colour: COLOURS[k % COLOURS.len()], dashed: false }
                })
                .collect();
            Panel { title: run.name.clone(), lines }
        })
        .collect();
    let (axis, shared) = match figure {
        LayerFigure::Weights => (Axis { label: "max |w|", log: false }, false),
        LayerFigure::Gradients => (Axis { label: "mean ‖∂L/∂W‖", log: true }, true),
    };
    write_grid(path, &panels, axis, shared)
}

/// Panels in a grid of up to four columns.
fn write_grid(path: &Path, panels: &[Panel], axis: Axis, shared_y: bool) -> Result<(), LabError> {
    if panels.is_empty() {
        return Err(PlotError::Empty { path: path.to_path_buf(), what: "no configuration" }.into());
    }
    let columns = panels.len().min(4);
    let rows = panels.len().div_ceil(columns);
    let size = (340u32, 260u32);
    let shared = shared_y.then(|| {
        let values = panels.iter().flat_map(|p| p.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
        let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        padded(lo, hi)
    });
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size.0 * columns as u32, size.1 * rows as u32))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_error(path)(&e))?;
        let areas = root.split_evenly((rows, columns));
        for (panel, area) in panels.iter().zip(&areas) {
            let range = shared.clone().unwrap_or_else(|| {
                let values = panel.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
                let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
                padded(lo, hi)
            });
            // Room above the data for the legend, in the upper right: a small panel has no
            // empty corner to spare (weights start low and grow, gradients start high).
            let most_entries = panels.iter().map(|p| p.lines.len()).max().unwrap_or(1);
            let entries = if shared.is_some() { most_entries } else { panel.lines.len() } as f64;
            let range = range.start..range.end + 0.16 * entries * (range.end - range.start);
            draw_panel(area, panel, axis, Some(range), 14).map_err(|e| draw_error(path)(&e))?;
        }
        root.present().map_err(|e| draw_error(path)(&e))?;
    }
    write_atomically(path, svg.as_bytes())
}

/// `lo..hi` widened by 5% each way (by 1 when flat or empty).
fn padded(lo: f64, hi: f64) -> Range<f64> {
    if !(lo.is_finite() && hi.is_finite()) {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    lo - pad..hi + pad
}

/// A value for an axis label: `significant` digits, without trailing zeros.
fn short_number(value: f64, significant: i32) -> String {
    if value == 0.0 || !value.is_finite() {
        return "0".into();
    }
    let digits = (significant - 1 - value.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.digits$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &Panel,
    axis: Axis,
    y_range: Option<Range<f64>>,
    title_size: u32,
) -> DrawResult<()> {
    let points = || panel.lines.iter().flat_map(|l| l.points.iter().copied());
    let (x_lo, x_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    let (x_lo, x_hi) = if x_lo <= x_hi { (x_lo, x_hi) } else { (0.0, 1.0) };
    let legend_on_top = y_range.is_some();
    let y_range = y_range.unwrap_or_else(|| {
        let (lo, hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (_, y)| (lo.min(y), hi.max(y)));
        padded(lo, hi)
    });
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", title_size))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(x_lo - 0.25..x_hi + 0.25, y_range.clone())?;
    let whole = |x: &f64| if x.fract() == 0.0 { format!("{x:.0}") } else { String::new() };
    let log_label = |y: &f64| short_number(10f64.powf(*y), 2);
    let linear_label = |y: &f64| short_number(*y, 3);
    let y_format: &dyn Fn(&f64) -> String = if axis.log { &log_label } else { &linear_label };
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(axis.label)
        .x_labels(((x_hi - x_lo) as usize + 1).min(8))
        .x_label_formatter(&whole)
        .y_labels(6)
        .y_label_formatter(y_format)
        .light_line_style(WHITE)
        .draw()?;
    for line in &panel.lines {
        let colour = line.colour;
        let style = colour.stroke_width(2);
        let series = if line.dashed {
            chart.draw_series(DashedLineSeries::new(line.points.iter().copied(), 6, 4, style))?
        } else {
            chart.draw_series(LineSeries::new(line.points.iter().copied(), style))?
        };
        series
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(if legend_on_top {
            SeriesLabelPosition::UpperRight
        } else {
            emptiest_corner(points(), &(x_lo - 0.25..x_hi + 0.25), &y_range)
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
}

/// The corner of the chart (a third of each axis) with the fewest points, for the legend.
fn emptiest_corner(
    points: impl Iterator<Item = (f64, f64)> + Clone,
    x: &Range<f64>,
    y: &Range<f64>,
) -> SeriesLabelPosition {
    let fraction = |v: f64, r: &Range<f64>| (v - r.start) / (r.end - r.start);
    [
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerLeft, false, false),
        (SeriesLabelPosition::UpperLeft, false, true),
    ]
    .into_iter()
    .map(|(position, right, upper)| {
        let inside = points
            .clone()
            .filter(|&(px, py)| {
                let (fx, fy) = (fraction(px, x), fraction(py, y));
                (if right { fx > 0.5 } else { fx < 0.5 }) && (if upper { fy > 0.6 } else { fy < 0.4 })
            })
            .count();
        (position, inside)
    })
    .min_by_key(|&(_, inside)| inside)
    .map_or(SeriesLabelPosition::UpperRight, |(position, _)| position)
}

/// The confusion matrix as a heat map with counts: true digits down, predictions across; the
/// diagonal (correct) in blue, mistakes in red, each shaded against the largest of its kind.
fn write_confusion(run: &RunResult, path: &Path) -> Result<(), LabError> {
    let classes = run.confusion.len();
    let (cell, left, top) = (44i32, 64i32, 70i32);
    let side = cell * classes as i32;
    let size = ((left + side + 20) as u32, (top + side + 20) as u32);
    let diagonal_max = (0..classes).map(|c| run.confusion[c][c]).max().unwrap_or(0).max(1);
    let off_max = run
        .confusion
        .iter()
        .enumerate()
        .flat_map(|(t, row)| row.iter().enumerate().filter(move |&(p, _)| p != t).map(|(_, &n)| n))
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u64 = run.confusion.iter().flatten().sum();
    let err = draw_error(path);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let centred = |size: u32| {
            TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
        };
        let title = format!("{}: {} test images, {:.2}% correct", run.name, total, 100.0 * run.test_accuracy);
        root.draw(&Text::new(title, (left + side / 2, 16), centred(16))).map_err(|e| err(&e))?;
        root.draw(&Text::new("predicted", (left + side / 2, 40), centred(13))).map_err(|e| err(&e))?;
        let rotated = TextStyle::from(("sans-serif", 13).into_font().transform(FontTransform::Rotate270))
            .pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new("true", (14, top + side / 2), rotated)).map_err(|e| err(&e))?;
        for k in 0..classes as i32 {
            let label = k.to_string();
            root.draw(&Text::new(label.clone(), (left + k * cell + cell / 2, top - 12), centred(13)))
                .map_err(|e| err(&e))?;
            root.draw(&Text::new(label, (left - 14, top + k * cell + cell / 2), centred(13)))
                .map_err(|e| err(&e))?;
        }
        for (t, row) in run.confusion.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let (x, y) = (left + p as i32 * cell, top + t as i32 * cell);
                let (base, max) = if t == p {
                    (RGBColor(31, 119, 180), diagonal_max)
                } else {
                    (RGBColor(214, 39, 40), off_max)
                };
                let strength = if count == 0 { 0.0 } else { 0.12 + 0.88 * count as f64 / max as f64 };
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], base.mix(strength).filled()))
                    .map_err(|e| err(&e))?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.mix(0.15).stroke_width(1)))
                    .map_err(|e| err(&e))?;
                if count > 0 {
                    let ink = if strength > 0.6 { &WHITE } else { &BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + cell / 2, y + cell / 2),
                        centred(12).color(ink),
                    ))
                    .map_err(|e| err(&e))?;
                }
            }
        }
        root.present().map_err(|e| err(&e))?;
    }
    write_atomically(path, svg.as_bytes())
}
