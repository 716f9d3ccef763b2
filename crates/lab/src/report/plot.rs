//! SVG plots of the tuning sweep (plotters, SVG backend): each point with its 95%
//! interval as an error bar, the Go package's setting marked.

use std::path::Path;

use chunkstream::BoxError;
use plotters::prelude::*;

use crate::record;
use crate::report::claims;

/// One line of a plot: its legend and its points `(x, y, y_lo, y_hi)`, x ascending.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64, f64, f64)>,
}

/// A line plot of the ratio to the limit with logarithmic x into `path`, error bars on
/// every point, and a vertical line at `mark` (x, label).
fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    series: &[Series],
    (mark, label): (f64, &str),
) -> Result<(), BoxError> {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0_f64);
    for &(x, y, _, hi) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y).max(if hi.is_finite() { hi } else { y });
    }
    if x0 > x1 {
        return Ok(());
    }
    let top = (y1 * 1.1).max(0.1);
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), 0.0..top)?;
    let mesh = &mut chart.configure_mesh();
    mesh.x_desc(x_label)
        .y_desc("ratio to limit (95% interval)")
        .draw()?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(mark, 0.0), (mark, top)],
            BLACK.mix(0.6).stroke_width(1),
        )))?
        .label(label.to_owned())
        .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], BLACK.stroke_width(1)));
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart.draw_series(
            s.points
                .iter()
                .filter(|p| p.2.is_finite() && p.3.is_finite())
                .map(|&(x, y, lo, hi)| {
                    ErrorBar::new_vertical(x, lo, y, hi, color.stroke_width(1), 6)
                }),
        )?;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().map(|&(x, y, _, _)| (x, y)),
                color.stroke_width(2),
            ))?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(
            s.points
                .iter()
                .map(|&(x, y, _, _)| Circle::new((x, y), 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The line `name` through the rows `keep` picks, at x = `x` of each, x ascending.
fn series(
    name: String,
    rows: &[&record::Tuning],
    keep: impl Fn(&record::Tuning) -> bool,
    x: fn(&record::Tuning) -> usize,
) -> Series {
    let mut points: Vec<_> = (rows.iter().filter(|r| keep(r)))
        .map(|r| (x(r) as f64, r.ratio.0, r.ratio_lo.0, r.ratio_hi.0))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    Series { name, points }
}

/// Per workload: ratio by buffer size (one line per threshold, at the claimed batch
/// size), and ratio by batch size (at the optimum and at the claimed buffer and
/// threshold). Returns the file names written in `dir`.
pub(crate) fn tuning(tuning: &[record::Tuning], dir: &Path) -> Result<Vec<String>, BoxError> {
    let mut written = Vec::new();
    for w in claims::workloads(tuning) {
        let rows: Vec<_> = tuning.iter().filter(|r| r.workload == w).collect();
        let mut thresholds: Vec<usize> = rows.iter().map(|r| r.threshold_kib).collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        let by_buffer: Vec<Series> = (thresholds.iter())
            .map(|&t| {
                let keep =
                    |r: &record::Tuning| r.threshold_kib == t && r.batch as f64 == claims::GO_BATCH;
                series(format!("threshold {t} KiB"), &rows, keep, |r| r.buffer_kib)
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        // By batch size at a buffer and threshold (KiB): the optimum's and Go's.
        let by_batch = claims::optimum(tuning, w).map(|opt| {
            let (ob, ot) = (opt.buffer_kib as f64, opt.threshold_kib as f64);
            let go = (claims::GO_BUFFER_KIB, claims::GO_THRESHOLD_KIB);
            [
                (ob, ot, format!("optimum {ob} / {ot} KiB")),
                (go.0, go.1, "Go's 50 / 32 KiB".into()),
            ]
            .map(|(buffer, threshold, name)| {
                let keep = |r: &record::Tuning| {
                    r.buffer_kib as f64 == buffer && r.threshold_kib as f64 == threshold
                };
                series(name, &rows, keep, |r| r.batch)
            })
            .to_vec()
        });
        let plots = [
            (
                "buffer",
                "by buffer size (batch 1000)",
                "buffer size (KiB)",
                Some(by_buffer),
                (claims::GO_BUFFER_KIB, "Go: 50 KB"),
            ),
            (
                "batch",
                "by batch size",
                "batch size (items)",
                by_batch,
                (claims::GO_BATCH, "Go: 1000"),
            ),
        ];
        for (knob, by, x_label, series, mark) in plots {
            let Some(series) = series else { continue };
            let name = format!("tuning-{w}-{knob}.svg");
            let title = format!("{w}: ratio to the limit {by}");
            lines(&dir.join(&name), &title, x_label, &series, mark)?;
            written.push(name);
        }
    }
    Ok(written)
}
