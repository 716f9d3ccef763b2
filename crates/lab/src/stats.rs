//! Small statistics: medians and ratios, NaN-aware (a missing figure stays missing).

/// The median of `values` (the mean of the middle two for an even count); NaN when
/// there are none. NaNs sort last and count like values.
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `part / whole`, NaN when `whole` is zero or either is NaN.
pub(crate) fn ratio(part: f64, whole: f64) -> f64 {
    if whole == 0.0 || whole.is_nan() || part.is_nan() {
        f64::NAN
    } else {
        part / whole
    }
}

/// The smallest and largest of `values` (NaN, NaN when empty).
pub(crate) fn range(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::NAN, f64::NAN), |(lo, hi), &v| {
        (
            if lo.is_nan() || v < lo { v } else { lo },
            if hi.is_nan() || v > hi { v } else { hi },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(1.0, 4.0), 0.25);
        assert!(ratio(1.0, 0.0).is_nan());
        assert!(ratio(f64::NAN, 2.0).is_nan());
    }

    #[test]
    fn ranges() {
        assert_eq!(range(&[2.0, 5.0, 1.0]), (1.0, 5.0));
        assert!(range(&[]).0.is_nan());
    }
}
