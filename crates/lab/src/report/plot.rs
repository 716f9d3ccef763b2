//! SVG plots of the tuning sweep (plotters, SVG backend): each point with its 95%
//! interval as an error bar, the Go package's setting marked.

use std::path::Path;

use chunkstream::BoxError;
use plotters::prelude::*;

use crate::record;
use crate::report::claims;

/// One line of a plot.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    /// Legend.
    pub(crate) name: String,
    /// Points `(x, y, y_lo, y_hi)`, x ascending.
    pub(crate) points: Vec<(f64, f64, f64, f64)>,
}

/// A line plot with logarithmic x into `path`, error bars on every point, and a
/// vertical line at `mark` (x, label).
pub(crate) fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
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
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((x0 * 0.8..x1 * 1.25).log_scale(), 0.0..(y1 * 1.1).max(0.1))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()?;
    let top = (y1 * 1.1).max(0.1);
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

fn sorted(mut points: Vec<(f64, f64, f64, f64)>) -> Vec<(f64, f64, f64, f64)> {
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// Per workload: ratio by buffer size (one line per threshold, at the claimed batch
/// size), and ratio by batch size (at the optimum and at the claimed buffer and
/// threshold). Returns the file names written in `dir`.
pub(crate) fn tuning(tuning: &[record::Tuning], dir: &Path) -> Result<Vec<String>, BoxError> {
    let mut written = Vec::new();
    // x (a knob's value), the ratio and its interval.
    let point = |x: usize, r: &record::Tuning| (x as f64, r.ratio.0, r.ratio_lo.0, r.ratio_hi.0);
    for w in claims::workloads(tuning) {
        let rows: Vec<_> = tuning.iter().filter(|r| r.workload == w).collect();
        let mut thresholds: Vec<usize> = rows.iter().map(|r| r.threshold_kib).collect();
        thresholds.sort_unstable();
        thresholds.dedup();
        let by_buffer: Vec<Series> = thresholds
            .iter()
            .map(|&t| Series {
                name: format!("threshold {t} KiB"),
                points: sorted(
                    rows.iter()
                        .filter(|r| r.threshold_kib == t && r.batch as f64 == claims::GO_BATCH)
                        .map(|r| point(r.buffer_kib, r))
                        .collect(),
                ),
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        let name = format!("tuning-{w}-buffer.svg");
        lines(
            &dir.join(&name),
            &format!("{w}: ratio to the limit by buffer size (batch 1000)"),
            "buffer size (KiB)",
            "ratio to limit (95% interval)",
            &by_buffer,
            (claims::GO_BUFFER_KIB, "Go: 50 KB"),
        )?;
        written.push(name);

        let Some(opt) = claims::optimum(tuning, w) else {
            continue;
        };
        let at = |buffer: f64, threshold: f64, label: String| Series {
            name: label,
            points: sorted(
                rows.iter()
                    .filter(|r| {
                        r.buffer_kib as f64 == buffer && r.threshold_kib as f64 == threshold
                    })
                    .map(|r| point(r.batch, r))
                    .collect(),
            ),
        };
        let (ob, ot) = (opt.buffer_kib as f64, opt.threshold_kib as f64);
        let by_batch = vec![
            at(ob, ot, format!("optimum {ob} / {ot} KiB")),
            at(
                claims::GO_BUFFER_KIB,
                claims::GO_THRESHOLD_KIB,
                "Go's 50 / 32 KiB".to_owned(),
            ),
        ];
        let name = format!("tuning-{w}-batch.svg");
        lines(
            &dir.join(&name),
            &format!("{w}: ratio to the limit by batch size"),
            "batch size (items)",
            "ratio to limit (95% interval)",
            &by_batch,
            (claims::GO_BATCH, "Go: 1000"),
        )?;
        written.push(name);
    }
    Ok(written)
}
