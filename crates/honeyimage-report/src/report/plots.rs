//! The report's figures drawn as SVG with `plotters`: ROC curves of every
//! method, per-method histograms of the test statistic, the training-length
//! curve, and the QQ plot of the clean p-values over keys. Functions here
//! only draw; the sections that embed them (and say what they show) are in
//! `figures.rs` and `keys.rs`.
//!
//! A plot must never take the report down: [`svg`] turns both errors and
//! panics of the plotting library into a message that is shown instead.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format::trim_num;
use crate::results::{CurvePoint, MethodSummary};

/// Infringing suspects (and "flagged" verdicts).
pub(super) const INFRINGING: RGBColor = RGBColor(0xe8, 0x59, 0x0c);
/// Clean suspects (and "not flagged" verdicts).
pub(super) const CLEAN: RGBColor = RGBColor(0x1c, 0x7e, 0xd6);
/// Axis and reference-line grey.
const REF_GREY: RGBColor = RGBColor(0x86, 0x8e, 0x96);
/// Threshold lines.
const INK: RGBColor = RGBColor(0x21, 0x25, 0x29);
/// Grid lines.
const GRID: RGBColor = RGBColor(0xe9, 0xec, 0xef);
/// Legend border.
const LEGEND_BORDER: RGBColor = RGBColor(0xce, 0xd4, 0xda);
/// One colour per method, HoneyImage (honey orange) first.
const METHOD_COLORS: [RGBColor; 6] = [
    RGBColor(0xe6, 0x77, 0x00),
    RGBColor(0x1c, 0x7e, 0xd6),
    RGBColor(0x2f, 0x9e, 0x44),
    RGBColor(0x70, 0x48, 0xe8),
    RGBColor(0xc2, 0x25, 0x5c),
    RGBColor(0x49, 0x50, 0x57),
];
const FONT: &str = "sans-serif";

type PlotResult = Result<(), Box<dyn std::error::Error>>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

/// Colour of the `i`-th method of the report (the same in table and plots).
pub(super) fn method_color(i: usize) -> RGBColor {
    METHOD_COLORS[i % METHOD_COLORS.len()]
}

/// `#rrggbb` of a colour, for CSS.
pub(super) fn hex(c: RGBColor) -> String {
    hex_rgb([c.0, c.1, c.2])
}

/// `#rrggbb` of an RGB triple, for CSS.
pub(super) fn hex_rgb(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Runs a drawing function on an SVG string; errors and panics of the
/// plotting library become the reason the plot is missing.
pub(super) fn svg(
    size: (u32, u32),
    draw: impl FnOnce(Area<'_>) -> PlotResult,
) -> Result<String, String> {
    let mut s = String::new();
    // Plotters should not panic on finite data, but a report must not take the
    // evaluation down with it.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let root = SVGBackend::with_string(&mut s, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(root.clone())?;
        root.present()?;
        Ok::<(), Box<dyn std::error::Error>>(())
    }));
    match outcome {
        Ok(Ok(())) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the plotting library panicked".into()),
    }
}

/// Axis titles, tick formats and text sizes of one chart.
struct Axes<'f> {
    x_desc: &'f str,
    y_desc: &'f str,
    x_fmt: &'f dyn Fn(&f64) -> String,
    y_fmt: &'f dyn Fn(&f64) -> String,
    /// Sizes of the axis titles and of the tick labels.
    text: (u32, u32),
    /// Number of ticks on x and y; `None` leaves plotters' default.
    ticks: Option<(usize, usize)>,
    /// Vertical grid lines.
    x_grid: bool,
}

fn draw_mesh(chart: &mut Chart<'_, '_>, axes: &Axes<'_>) -> PlotResult {
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(axes.x_desc)
        .y_desc(axes.y_desc)
        .axis_desc_style((FONT, axes.text.0))
        .label_style((FONT, axes.text.1))
        .x_label_formatter(axes.x_fmt)
        .y_label_formatter(axes.y_fmt)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(REF_GREY);
    if let Some((x, y)) = axes.ticks {
        mesh.x_labels(x).y_labels(y);
    }
    if !axes.x_grid {
        mesh.disable_x_mesh();
    }
    mesh.draw()?;
    Ok(())
}

/// The legend box of the labelled series; `large` for the full-width ROC plot.
fn draw_legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
    large: bool,
) -> PlotResult {
    let (margin, area, opacity, font) = if large {
        (12, 30, 0.92, 18)
    } else {
        (8, 24, 0.9, 16)
    };
    chart
        .configure_series_labels()
        .position(position)
        .margin(margin)
        .legend_area_size(area)
        .background_style(WHITE.mix(opacity))
        .border_style(LEGEND_BORDER)
        .label_font((FONT, font))
        .draw()?;
    Ok(())
}

/// A line of `width` pixels with a legend entry `legend_len` pixels long.
fn labelled_line(
    chart: &mut Chart<'_, '_>,
    points: Vec<(f64, f64)>,
    (color, width): (RGBColor, u32),
    label: String,
    legend_len: i32,
) -> PlotResult {
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(width)))?
        .label(label)
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + legend_len, y)], color.stroke_width(3))
        });
    Ok(())
}

fn one_decimal(v: &f64) -> String {
    format!("{v:.1}")
}

/// ROC curves of every method's exact-test statistic, with the chance diagonal.
pub(super) fn roc(area: Area<'_>, methods: &[MethodSummary]) -> PlotResult {
    let mut chart = ChartBuilder::on(&area)
        .margin(16)
        .x_label_area_size(54)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.01f64..1.01f64, -0.01f64..1.01f64)?;
    let axes = Axes {
        x_desc: "False-positive rate (clean models flagged)",
        y_desc: "True-positive rate (infringing models flagged)",
        x_fmt: &one_decimal,
        y_fmt: &one_decimal,
        text: (19, 16),
        ticks: Some((6, 6)),
        x_grid: true,
    };
    draw_mesh(&mut chart, &axes)?;
    let diagonal = vec![(0.0, 0.0), (1.0, 1.0)];
    chart.draw_series(DashedLineSeries::new(
        diagonal,
        6,
        5,
        REF_GREY.stroke_width(1),
    ))?;
    if methods.iter().all(|m| m.roc.is_empty()) {
        let style = (FONT, 22).into_font().color(&REF_GREY);
        chart.draw_series(std::iter::once(Text::new(
            "no ROC data",
            (0.38, 0.55),
            style,
        )))?;
        return Ok(());
    }
    for (i, m) in methods.iter().enumerate() {
        let pts: Vec<(f64, f64)> = m
            .roc
            .iter()
            .filter(|p| p.fpr.is_finite() && p.tpr.is_finite())
            .map(|p| (p.fpr.clamp(0.0, 1.0), p.tpr.clamp(0.0, 1.0)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        // The first method (HoneyImage) is drawn thickest so that it still
        // shows where curves coincide.
        let width = if i == 0 { 5 } else { 2 };
        let label = format!(
            "{}  AUROC {}",
            m.method.label(),
            super::format::fnum(m.auroc, 3)
        );
        labelled_line(&mut chart, pts, (method_color(i), width), label, 22)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight, true)
}

/// Counts of infringing and clean statistics in common bins.
pub(super) struct Histogram {
    x_min: f64,
    x_max: f64,
    bin_width: f64,
    infringing: Vec<usize>,
    clean: Vec<usize>,
    y_max: f64,
    empty: bool,
}

impl Histogram {
    const BINS: usize = 24;

    /// Bins spanning the finite values and the threshold; an infinite
    /// statistic (p = 0) goes in the outermost bin on its side.
    pub fn new(infringing: &[f64], clean: &[f64], thr: Option<f64>) -> Histogram {
        let finite = || {
            infringing
                .iter()
                .chain(clean)
                .copied()
                .filter(|v| v.is_finite())
        };
        let hi = finite().fold(0.0f64, f64::max).max(thr.unwrap_or(0.0));
        let x_max = if hi > 0.0 { hi * 1.06 } else { 1.0 };
        let x_min = finite().fold(0.0f64, f64::min);
        let bin_width = (x_max - x_min) / Self::BINS as f64;
        let count = |vals: &[f64]| {
            let mut c = vec![0usize; Self::BINS];
            for &v in vals {
                c[Self::bin(v, x_min, bin_width)] += 1;
            }
            c
        };
        let (infringing_counts, clean_counts) = (count(infringing), count(clean));
        let top = infringing_counts
            .iter()
            .chain(&clean_counts)
            .copied()
            .max()
            .unwrap_or(0);
        Histogram {
            x_min,
            x_max,
            bin_width,
            infringing: infringing_counts,
            clean: clean_counts,
            y_max: top.max(1) as f64 * 1.18,
            empty: infringing.is_empty() && clean.is_empty(),
        }
    }

    fn bin(v: f64, x_min: f64, width: f64) -> usize {
        if v.is_infinite() {
            if v > 0.0 {
                Self::BINS - 1
            } else {
                0
            }
        } else {
            (((v - x_min) / width).floor().max(0.0) as usize).min(Self::BINS - 1)
        }
    }

    /// One bar per non-empty bin.
    fn bars(&self, counts: &[usize], color: RGBColor) -> Vec<Rectangle<(f64, f64)>> {
        let fill = color.mix(0.55).filled();
        let w = self.bin_width;
        let bar = |(b, &c): (usize, &usize)| {
            let x0 = self.x_min + b as f64 * w;
            Rectangle::new([(x0 + w * 0.04, 0.0), (x0 + w * 0.96, c as f64)], fill)
        };
        counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(bar)
            .collect()
    }
}

fn whole_counts(v: &f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// One method's histogram of −log10 p, with the decision threshold.
pub(super) fn histogram(
    area: Area<'_>,
    title: &str,
    title_color: RGBColor,
    hist: &Histogram,
    thr: Option<f64>,
) -> PlotResult {
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .caption(title, (FONT, 19).into_font().color(&title_color))
        .x_label_area_size(48)
        .y_label_area_size(50)
        .build_cartesian_2d(hist.x_min..hist.x_max, 0f64..hist.y_max)?;
    let x_fmt = |v: &f64| trim_num(*v);
    let axes = Axes {
        x_desc: "−log10 p",
        y_desc: "suspects",
        x_fmt: &x_fmt,
        y_fmt: &whole_counts,
        text: (16, 15),
        ticks: Some((8, 5)),
        x_grid: false,
    };
    draw_mesh(&mut chart, &axes)?;
    // The legend is HTML above the grid, shared by all panels.
    chart.draw_series(hist.bars(&hist.clean, CLEAN))?;
    chart.draw_series(hist.bars(&hist.infringing, INFRINGING))?;
    if let Some(t) = thr {
        let line = vec![(t, 0.0), (t, hist.y_max)];
        chart.draw_series(DashedLineSeries::new(line, 5, 4, INK.stroke_width(2)))?;
    }
    if hist.empty {
        let at = (
            hist.x_min + (hist.x_max - hist.x_min) * 0.4,
            hist.y_max * 0.5,
        );
        let style = (FONT, 20).into_font().color(&REF_GREY);
        chart.draw_series(std::iter::once(Text::new("no suspects", at, style)))?;
    }
    Ok(())
}

/// −log10 p with p = 0 as +∞ and anything that is not a probability as NaN.
pub(super) fn neg_log10(p: f64) -> f64 {
    if p.is_finite() && p > 0.0 {
        -p.log10()
    } else if p == 0.0 {
        f64::INFINITY
    } else {
        f64::NAN
    }
}

/// The training-length curve's series, sorted by epoch, non-finite points dropped.
pub(super) struct CurveSeries {
    x_range: (f64, f64),
    infringing: Vec<(f64, f64)>,
    clean: Vec<(f64, f64)>,
    auroc: Vec<(f64, f64)>,
    train_accuracy: Vec<(f64, f64)>,
}

impl CurveSeries {
    /// The series of `points`, in any order.
    pub fn new(points: &[CurvePoint]) -> CurveSeries {
        let mut pts: Vec<&CurvePoint> = points.iter().collect();
        pts.sort_by_key(|p| p.epoch);
        let e_min = pts.first().map_or(0, |p| p.epoch) as f64;
        let e_max = pts.last().map_or(1, |p| p.epoch) as f64;
        let x_range = if e_max > e_min {
            let pad = (e_max - e_min) * 0.03;
            (e_min - pad, e_max + pad)
        } else {
            (e_min - 0.5, e_min + 0.5)
        };
        let series = |f: fn(&CurvePoint) -> f64| -> Vec<(f64, f64)> {
            pts.iter()
                .map(|p| (p.epoch as f64, f(p)))
                .filter(|(_, y)| y.is_finite())
                .collect()
        };
        CurveSeries {
            x_range,
            infringing: series(|p| neg_log10(p.median_p_infringing)),
            clean: series(|p| neg_log10(p.median_p_clean)),
            auroc: series(|p| p.auroc),
            train_accuracy: series(|p| p.mean_train_accuracy),
        }
    }
}

fn whole_epochs(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Two panels side by side: median significance, then AUROC and accuracy.
pub(super) fn curve(area: Area<'_>, series: &CurveSeries, thr: Option<f64>) -> PlotResult {
    let width = area.dim_in_pixel().0;
    let (left, right) = area.split_horizontally(width / 2);
    significance_panel(left, series, thr)?;
    auroc_panel(right, series)
}

fn significance_panel(area: Area<'_>, s: &CurveSeries, thr: Option<f64>) -> PlotResult {
    let values = || s.infringing.iter().chain(&s.clean).map(|p| p.1);
    let y_top = values().fold(thr.unwrap_or(1.0), f64::max) * 1.12;
    let y_bottom = values().fold(0.0f64, f64::min);
    let (x0, x1) = s.x_range;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .caption("Median significance", (FONT, 20))
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, y_bottom..y_top)?;
    let y_fmt = |v: &f64| trim_num(*v);
    let axes = Axes {
        x_desc: "epoch",
        y_desc: "−log10 median p",
        x_fmt: &whole_epochs,
        y_fmt: &y_fmt,
        text: (16, 15),
        ticks: None,
        x_grid: true,
    };
    draw_mesh(&mut chart, &axes)?;
    if let Some(t) = thr {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, t), (x1, t)],
                5,
                4,
                INK.stroke_width(1),
            ))?
            .label("α threshold")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], INK.stroke_width(1)));
    }
    for (data, color, name) in [
        (&s.infringing, INFRINGING, "infringing"),
        (&s.clean, CLEAN, "clean"),
    ] {
        labelled_line(&mut chart, data.clone(), (color, 3), name.into(), 18)?;
        chart.draw_series(data.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, false)
}

fn auroc_panel(area: Area<'_>, s: &CurveSeries) -> PlotResult {
    let lowest = s
        .auroc
        .iter()
        .chain(&s.train_accuracy)
        .map(|p| p.1)
        .fold(0.4f64, f64::min);
    let (x0, x1) = s.x_range;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .caption("AUROC and training accuracy", (FONT, 20))
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(x0..x1, (lowest.max(0.0) - 0.02)..1.02f64)?;
    let axes = Axes {
        x_desc: "epoch",
        y_desc: "AUROC / accuracy",
        x_fmt: &whole_epochs,
        y_fmt: &one_decimal,
        text: (16, 15),
        ticks: None,
        x_grid: true,
    };
    draw_mesh(&mut chart, &axes)?;
    let honey = method_color(0);
    labelled_line(
        &mut chart,
        s.auroc.clone(),
        (honey, 3),
        "AUROC (HoneyImage)".into(),
        18,
    )?;
    chart.draw_series(s.auroc.iter().map(|&p| Circle::new(p, 4, honey.filled())))?;
    chart
        .draw_series(DashedLineSeries::new(
            s.train_accuracy.clone(),
            6,
            4,
            REF_GREY.stroke_width(2),
        ))?
        .label("train accuracy (infringing)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], REF_GREY.stroke_width(2)));
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight, false)
}

/// One series of a [`lines`] chart: points at the chart's categories (by
/// index), each with an optional interval drawn as an error bar.
pub(super) struct Line {
    pub label: String,
    pub color: RGBColor,
    /// Thicker for the method the chart is about.
    pub bold: bool,
    pub points: Vec<(usize, f64, Option<(f64, f64)>)>,
}

/// A chart of method lines over the values of a swept parameter.
pub(super) struct LineChart<'a> {
    pub title: &'a str,
    pub x_desc: &'a str,
    pub y_desc: &'a str,
    /// The parameter's values, shown evenly spaced.
    pub categories: &'a [String],
    pub lines: Vec<Line>,
    /// A dashed horizontal reference (value, legend label).
    pub reference: Option<(f64, &'a str)>,
    /// The y range to show at least (data beyond it widens it).
    pub y_span: (f64, f64),
}

impl LineChart<'_> {
    fn y_range(&self) -> (f64, f64) {
        let values = self.lines.iter().flat_map(|l| &l.points).flat_map(|&(_, y, ci)| {
            let (lo, hi) = ci.unwrap_or((y, y));
            [y, lo, hi]
        });
        let (lo, hi) = values
            .chain(self.reference.map(|r| r.0))
            .filter(|v| v.is_finite())
            .fold(self.y_span, |(lo, hi), v| (lo.min(v), hi.max(v)));
        // Room above the data for the legend in the upper-left corner.
        let span = (hi - lo).max(1e-9);
        (lo - span * 0.06, hi + span * 0.45)
    }
}

/// Lines with markers and error bars over evenly spaced categories.
pub(super) fn lines(area: Area<'_>, c: &LineChart<'_>) -> PlotResult {
    let (y0, y1) = c.y_range();
    let x1 = c.categories.len().max(1) as f64 - 0.5;
    let mut chart = ChartBuilder::on(&area)
        .margin(14)
        .caption(c.title, (FONT, 19))
        .x_label_area_size(48)
        .y_label_area_size(58)
        .build_cartesian_2d(-0.5f64..x1, y0..y1)?;
    let x_fmt = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            c.categories.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let y_fmt = |v: &f64| trim_num(*v);
    let axes = Axes { x_desc: c.x_desc, y_desc: c.y_desc, x_fmt: &x_fmt, y_fmt: &y_fmt, text: (16, 15), ticks: Some((c.categories.len() * 2 + 1, 6)), x_grid: false };
    draw_mesh(&mut chart, &axes)?;
    if let Some((y, label)) = c.reference {
        chart
            .draw_series(DashedLineSeries::new(vec![(-0.5, y), (x1, y)], 5, 4, INK.stroke_width(1)))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], INK.stroke_width(1)));
    }
    let n = c.lines.len().max(1) as f64;
    for (k, l) in c.lines.iter().enumerate() {
        // Lines side by side within a category, so error bars do not overlap.
        let dx = (k as f64 - (n - 1.0) / 2.0) * 0.06;
        let pts: Vec<(f64, f64)> = l.points.iter().filter(|p| p.1.is_finite()).map(|&(i, y, _)| (i as f64 + dx, y)).collect();
        labelled_line(&mut chart, pts.clone(), (l.color, if l.bold { 4 } else { 2 }), l.label.clone(), 18)?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, l.color.filled())))?;
        let bars = l.points.iter().filter_map(|&(i, y, ci)| {
            let (lo, hi) = ci?;
            (y.is_finite() && lo.is_finite() && hi.is_finite()).then(|| ErrorBar::new_vertical(i as f64 + dx, lo, y, hi, l.color.stroke_width(2), 8))
        });
        chart.draw_series(bars)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, false)
}

/// The QQ plot's series, in log10 units on both axes: observed clean
/// p-values against the expected quantiles of U(0, 1).
pub(super) struct QqSeries {
    /// (log10 (i − 0.5)/n, log10 p_(i)) for the i-th smallest p-value.
    points: Vec<(f64, f64)>,
    /// (log10 expected, log10 lower, log10 upper): where the i-th smallest of
    /// n independent uniforms lies with 95% probability.
    band: Vec<(f64, f64, f64)>,
    /// Lower end of both axes (log10); the upper end is 0 (p = 1).
    floor: f64,
}

impl QqSeries {
    /// Most band points computed (log-spaced in i); the band is smooth.
    const BAND_POINTS: usize = 240;

    /// The series of `p_values` (any order; values outside [0, 1] dropped).
    /// Both axes reach down to the smaller of 0.5/n and the smallest positive
    /// p-value, and at least to 0.1; p = 0 is drawn on the floor.
    pub fn new(p_values: &[f64]) -> QqSeries {
        let mut p: Vec<f64> = p_values
            .iter()
            .copied()
            .filter(|v| (0.0..=1.0).contains(v))
            .collect();
        p.sort_by(f64::total_cmp);
        let n = p.len();
        let expected = |i: usize| (i as f64 - 0.5) / n as f64;
        let smallest = p.iter().copied().find(|&v| v > 0.0).unwrap_or(1.0);
        let floor = (expected(1).min(smallest).log10() - 0.15).min(-1.0);
        let log = |v: f64| if v > 0.0 { v.log10().max(floor) } else { floor };
        let points = (1..=n).map(|i| (log(expected(i)), log(p[i - 1]))).collect();
        let band = Self::band_indices(n)
            .into_iter()
            .filter_map(|i| {
                let (lo, hi) = order_statistic_interval(i, n)?;
                Some((log(expected(i)), log(lo), log(hi)))
            })
            .collect();
        QqSeries {
            points,
            band,
            floor,
        }
    }

    /// Every order 1..=n, or [`Self::BAND_POINTS`] of them spread evenly on
    /// a log scale (the plot's), always with the first and the last.
    fn band_indices(n: usize) -> Vec<usize> {
        if n <= Self::BAND_POINTS {
            return (1..=n).collect();
        }
        let steps = Self::BAND_POINTS - 1;
        let mut idx: Vec<usize> = (0..=steps)
            .map(|k| ((n as f64).powf(k as f64 / steps as f64).round() as usize).clamp(1, n))
            .collect();
        idx.dedup();
        idx
    }
}

/// The central 95% interval of the i-th smallest of n independent U(0, 1)
/// values, which is Beta(i, n − i + 1): its 2.5% quantile is the lower
/// Clopper-Pearson bound for i successes of n, its 97.5% quantile the upper
/// bound for i − 1 successes.
fn order_statistic_interval(i: usize, n: usize) -> Option<(f64, f64)> {
    let (i, n) = (i as u64, n as u64);
    let lo = honeyimage_stats::binomial_ci(i, n, 0.95).ok()?.0;
    let hi = honeyimage_stats::binomial_ci(i - 1, n, 0.95).ok()?.1;
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}

/// A tick on a log10 axis: powers of ten only (`1`, `0.1`, `0.01`, `0.001`,
/// then `1e-4`, ...).
fn decade(v: &f64) -> String {
    if (v - v.round()).abs() > 1e-9 {
        return String::new();
    }
    match v.round() as i32 {
        k @ -3..=0 => format!("{:.*}", (-k) as usize, 10f64.powi(k)),
        k => format!("1e{k}"),
    }
}

/// Observed against expected p-values on log10 axes, with the diagonal of
/// uniform p-values and the pointwise 95% band of independent ones.
pub(super) fn qq(area: Area<'_>, s: &QqSeries) -> PlotResult {
    let range = s.floor..0.05;
    let mut chart = ChartBuilder::on(&area)
        .margin(16)
        .x_label_area_size(54)
        .y_label_area_size(64)
        .build_cartesian_2d(range.clone(), range)?;
    // One label per decade, at most nine (plotters then picks whole steps).
    let ticks = ((-s.floor).ceil() as usize + 1).min(9);
    let axes = Axes {
        x_desc: "Expected p-value if uniform, (i − 0.5)/n",
        y_desc: "Observed clean p-value",
        x_fmt: &decade,
        y_fmt: &decade,
        text: (17, 15),
        ticks: Some((ticks, ticks)),
        x_grid: true,
    };
    draw_mesh(&mut chart, &axes)?;
    draw_qq_band(&mut chart, &s.band)?;
    let diagonal = vec![(s.floor, s.floor), (0.0, 0.0)];
    chart
        .draw_series(DashedLineSeries::new(diagonal, 6, 5, INK.stroke_width(1)))?
        .label("uniform (y = x)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], INK.stroke_width(1)));
    if s.points.is_empty() {
        let style = (FONT, 22).into_font().color(&REF_GREY);
        let at = (s.floor * 0.6, s.floor * 0.4);
        chart.draw_series(std::iter::once(Text::new("no p-values", at, style)))?;
        return Ok(());
    }
    let dot = CLEAN.mix(0.75).filled();
    chart
        .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, dot)))?
        .label("clean p-values")
        .legend(move |(x, y)| Circle::new((x + 9, y), 4, dot));
    draw_legend(&mut chart, SeriesLabelPosition::LowerRight, false)
}

/// The band as one shaded polygon: along the upper bounds, back along the lower.
fn draw_qq_band(chart: &mut Chart<'_, '_>, band: &[(f64, f64, f64)]) -> PlotResult {
    if band.len() < 2 {
        return Ok(());
    }
    let upper = band.iter().map(|&(x, _, hi)| (x, hi));
    let lower = band.iter().rev().map(|&(x, lo, _)| (x, lo));
    let fill = CLEAN.mix(0.14).filled();
    chart
        .draw_series(std::iter::once(Polygon::new(
            upper.chain(lower).collect::<Vec<_>>(),
            fill,
        )))?
        .label("95% band, independent pairs")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], fill));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_cover_values_threshold_and_infinities() {
        let h = Histogram::new(&[1.0, 5.0, f64::INFINITY], &[0.1, 0.2], Some(2.0));
        assert_eq!(h.infringing.iter().sum::<usize>(), 3);
        assert_eq!(h.clean.iter().sum::<usize>(), 2);
        // 6% headroom: the maximum 5.0 lands in bin 22 of 24, +inf in the last.
        assert!((h.x_max - 5.3).abs() < 1e-9);
        assert_eq!((h.infringing[22], h.infringing[23]), (1, 1));
        assert_eq!(h.clean[0], 2);
        let thr_only = Histogram::new(&[], &[], Some(2.0));
        assert!(thr_only.empty && (thr_only.x_max - 2.12).abs() < 1e-9);
    }

    #[test]
    fn curve_series_sort_by_epoch_and_drop_non_finite() {
        let pt = |epoch, p_inf: f64| CurvePoint {
            epoch,
            auroc: 0.9,
            median_p_infringing: p_inf,
            median_p_clean: 0.5,
            mean_train_accuracy: f64::NAN,
        };
        let s = CurveSeries::new(&[pt(20, 0.01), pt(10, f64::NAN), pt(30, 0.0)]);
        assert_eq!(
            s.infringing,
            vec![(20.0, 2.0)],
            "NaN dropped, p = 0 (infinite) dropped"
        );
        assert_eq!(
            s.clean.iter().map(|p| p.0).collect::<Vec<_>>(),
            [10.0, 20.0, 30.0]
        );
        assert!(s.train_accuracy.is_empty());
        assert!((s.x_range.0 - 9.4).abs() < 1e-9 && (s.x_range.1 - 30.6).abs() < 1e-9);
    }

    #[test]
    fn plot_errors_become_a_message() {
        let err = svg((100, 100), |_| Err("no data".into())).unwrap_err();
        assert_eq!(err, "no data");
        let err = svg((100, 100), |_| panic!("boom")).unwrap_err();
        assert!(err.contains("panicked"), "{err}");
        assert!(svg((100, 100), |_| Ok(())).unwrap().starts_with("<svg"));
    }

    #[test]
    fn qq_band_is_the_beta_order_statistic_interval() {
        // The smallest of n uniforms has CDF 1 - (1 - x)^n, the largest x^n.
        let n = 50usize;
        let (lo, hi) = order_statistic_interval(1, n).unwrap();
        let nf = n as f64;
        assert!((lo - (1.0 - 0.975f64.powf(1.0 / nf))).abs() < 1e-9, "{lo}");
        assert!((hi - (1.0 - 0.025f64.powf(1.0 / nf))).abs() < 1e-9, "{hi}");
        let (lo, hi) = order_statistic_interval(n, n).unwrap();
        assert!((lo - 0.025f64.powf(1.0 / nf)).abs() < 1e-9, "{lo}");
        assert!((hi - 0.975f64.powf(1.0 / nf)).abs() < 1e-9, "{hi}");
        // Every band point holds its own expected quantile.
        let s = QqSeries::new(&vec![0.5; n]);
        assert_eq!(s.band.len(), n);
        assert!(s.band.iter().all(|&(x, lo, hi)| lo <= x && x <= hi));
    }

    #[test]
    fn qq_series_floor_points_and_thinned_band() {
        let s = QqSeries::new(&[0.9, 0.0, 0.2, f64::NAN, 1e-6, 2.0]);
        // Four p-values kept, sorted; the floor is below 1e-6 and p = 0 sits on it.
        assert_eq!(s.points.len(), 4);
        assert!(s.floor < -6.0 && s.floor > -6.5, "{}", s.floor);
        assert_eq!(s.points[0].1, s.floor);
        assert!((s.points[1].1 + 6.0).abs() < 1e-9);
        assert!((s.points[0].0 - (0.125f64).log10()).abs() < 1e-9);
        assert!(s.points.windows(2).all(|w| w[0] < w[1]));
        // Many p-values: the band is thinned but keeps both ends.
        let many: Vec<f64> = (1..=5000).map(|i| i as f64 / 5001.0).collect();
        let s = QqSeries::new(&many);
        assert!(s.band.len() <= QqSeries::BAND_POINTS && s.band.len() > 100);
        assert_eq!(s.band.first().unwrap().0, s.points[0].0);
        assert_eq!(s.band.last().unwrap().0, s.points[4999].0);
        // Nothing at all still has axes.
        let none = QqSeries::new(&[]);
        assert!(none.points.is_empty() && none.band.is_empty() && none.floor == -1.0);
        assert!(svg((400, 400), |area| qq(area, &none)).is_ok());
    }

    #[test]
    fn decade_ticks_are_powers_of_ten() {
        assert_eq!(decade(&0.0), "1");
        assert_eq!(decade(&-1.0), "0.1");
        assert_eq!(decade(&-3.0), "0.001");
        assert_eq!(decade(&-6.0), "1e-6");
        assert_eq!(decade(&-2.5), "");
    }
}
