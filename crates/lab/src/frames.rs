//! Sorting profile samples into kinds of work by their frames' names, for the summaries
//! beside the flamegraphs (`database`, `parallel --profile`).

/// A test on a frame's name.
pub(crate) type FrameTest = fn(&str) -> bool;

/// Allocating or freeing memory (the allocator's own frames, and dropping a `String`).
pub(crate) fn is_allocation(name: &str) -> bool {
    [
        "__rust_alloc",
        "__rust_dealloc",
        "__rust_realloc",
        "malloc",
        "realloc",
        "cfree",
        "drop_in_place<alloc::string::String>",
    ]
    .iter()
    .any(|frame| name.contains(frame))
}

pub(crate) fn is_copy(name: &str) -> bool {
    name.contains("memcpy") || name.contains("memmove")
}

/// The index in `kinds` (most specific first) of the innermost recognised frame of a
/// sample whose frames run from the sampled instruction outwards; `kinds.len()` when
/// none is recognised (its "self" time, the way a flamegraph's top edge reads).
pub(crate) fn kind_of(
    kinds: &[(&str, FrameTest)],
    names: impl IntoIterator<Item = impl AsRef<str>>,
) -> usize {
    names
        .into_iter()
        .find_map(|name| kinds.iter().position(|(_, test)| test(name.as_ref())))
        .unwrap_or(kinds.len())
}

/// Each kind's name beside its count (counts indexed as [`kind_of`] returns, the last
/// for frames of no kind: `other`).
pub(crate) fn named(kinds: &[(&str, FrameTest)], counts: Vec<isize>) -> Vec<(String, isize)> {
    kinds
        .iter()
        .map(|k| k.0)
        .chain(["other"])
        .map(str::to_owned)
        .zip(counts)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_innermost_recognised_frame_decides() {
        let kinds: &[(&str, FrameTest)] = &[("alloc", is_allocation), ("copy", is_copy)];
        assert_eq!(kind_of(kinds, ["main", "memcpy", "__rust_alloc"]), 1);
        assert_eq!(kind_of(kinds, ["malloc", "memmove"]), 0);
        assert_eq!(kind_of(kinds, ["main"]), 2);
        assert_eq!(kind_of(kinds, Vec::<String>::new()), 2);
        assert_eq!(
            named(kinds, vec![1, 2, 3]),
            [("alloc".into(), 1), ("copy".into(), 2), ("other".into(), 3)]
        );
    }
}
