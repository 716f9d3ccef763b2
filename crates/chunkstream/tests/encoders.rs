//! Every encoder: refuses NaN with an `EncodeError` (never a panic), accepts and refuses
//! exactly the map keys serde_json does, and agrees with serde_json, the reference, by
//! parsed value.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chunkstream::pool::NoPool;
use chunkstream::{ChunkConfig, EncodeError, Encoder, StreamError, Streamer, source, transform};
use serde::Serialize;
use serde_json::{Value, json};

use common::{body, tickets};

/// Encodes without letting a panic escape, so a panicking encoder fails with a message.
fn encode<E: Encoder, T: Serialize + ?Sized>(
    encoder: &E,
    value: &T,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    match catch_unwind(AssertUnwindSafe(|| encoder.encode(value, &mut out))) {
        Ok(result) => result.map(|()| out),
        Err(_) => panic!("{} panicked", std::any::type_name::<E>()),
    }
}

#[derive(Serialize)]
struct WithFloat {
    name: &'static str,
    ratio: f32,
}

fn refuses_non_finite_floats<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let non_finite =
        |result: Result<Vec<u8>, EncodeError>| matches!(result, Err(EncodeError::NonFiniteFloat));
    assert!(non_finite(encode(&encoder, &f64::NAN)), "{name}: NaN");
    assert!(non_finite(encode(&encoder, &f64::INFINITY)), "{name}: inf");
    assert!(
        non_finite(encode(&encoder, &f32::NEG_INFINITY)),
        "{name}: -inf f32"
    );
    assert!(
        non_finite(encode(&encoder, &vec![1.0, f64::NAN])),
        "{name}: in a seq"
    );
    assert!(
        non_finite(encode(&encoder, &Some(f64::NAN))),
        "{name}: in an option"
    );
    let nested = WithFloat {
        name: "x",
        ratio: f32::NAN,
    };
    assert!(non_finite(encode(&encoder, &nested)), "{name}: in a struct");
    let map = BTreeMap::from([("k", f64::NAN)]);
    assert!(non_finite(encode(&encoder, &map)), "{name}: in a map");
}

/// Keys serde_json refuses (a tuple, bytes as a sequence, a unit) are refused.
fn refuses_non_string_keys<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let tuple_keys = BTreeMap::from([((1, 2), 3)]);
    let err = encode(&encoder, &tuple_keys).expect_err(name);
    assert!(matches!(err, EncodeError::Serialize(_)), "{name}: {err:?}");
    println!("{name}, tuple keys: {err}");

    let byte_keys = HashMap::from([(vec![1_u8, 2], 3)]);
    let err = encode(&encoder, &byte_keys).expect_err(name);
    assert!(matches!(err, EncodeError::Serialize(_)), "{name}: {err:?}");

    let unit_keys = BTreeMap::from([((), "unit")]);
    assert!(encode(&encoder, &unit_keys).is_err(), "{name}: unit key");
}

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(i32),
    Tuple(i32, String),
    Struct { w: u16, h: u16 },
}

#[derive(Serialize)]
struct Sample {
    escapes: String,
    control: String,
    unicode: &'static str,
    floats: Vec<f64>,
    ints: (u64, i64, i8, u8),
    optional: Option<Box<Sample>>,
    shapes: Vec<Shape>,
    map: BTreeMap<String, Vec<Option<bool>>>,
    int_keys: BTreeMap<i32, char>,
    bytes: serde_bytes_like::Bytes,
    empty: (Vec<u8>, BTreeMap<String, u8>, String),
}

/// Serialized with `serialize_bytes`, without a dependency on serde_bytes.
mod serde_bytes_like {
    pub(crate) struct Bytes(pub(crate) Vec<u8>);
    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
}

fn sample(depth: u32) -> Sample {
    Sample {
        escapes: "quote \" backslash \\ slash / \u{8}\u{c}\n\r\t end".to_owned(),
        control: (0_u8..0x20).map(char::from).chain(['\u{7f}']).collect(),
        unicode: "é ß 漢字 🦀 \u{2028}\u{2029} \u{fffd}",
        floats: vec![
            0.0,
            0.1,
            -1.5,
            1e21,
            1e-7,
            123_456_789.012_345_67,
            f64::MAX,
            f64::MIN_POSITIVE,
            2.5e-300,
        ],
        ints: (u64::MAX, i64::MIN, -1, 255),
        optional: (depth > 0).then(|| Box::new(sample(depth - 1))),
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(-7),
            Shape::Tuple(1, "t".into()),
            Shape::Struct { w: 3, h: 4 },
        ],
        map: BTreeMap::from([
            ("a".into(), vec![Some(true), None]),
            ("\"quoted\" key\n".into(), vec![]),
        ]),
        int_keys: BTreeMap::from([(-1, 'x'), (42, '"')]),
        bytes: serde_bytes_like::Bytes(vec![0, 1, 254, 255]),
        empty: (Vec::new(), BTreeMap::new(), String::new()),
    }
}

fn parsed(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|err| panic!("invalid JSON ({err}): {}", String::from_utf8_lossy(bytes)))
}

/// The encoder against the serde_json crate itself (not the crate's `SerdeJson`, which
/// would compare the serde_json module with itself).
fn agrees_with_serde_json<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let values = [
        parsed(&serde_json::to_vec(&sample(2)).unwrap()),
        json!(null),
        json!([]),
        json!({}),
        json!("\u{0}"),
        json!([[[[{"deep": [1, 2.5, "three", null, true]}]]]]),
    ];
    for (i, value) in values.iter().enumerate() {
        let reference = serde_json::to_vec(value).unwrap();
        let got = encode(&encoder, value).unwrap();
        assert_eq!(parsed(&got), parsed(&reference), "{name}: value {i}");
    }
    // Typed values, not only `serde_json::Value`.
    let reference = serde_json::to_vec(&sample(2)).unwrap();
    let got = encode(&encoder, &sample(2)).unwrap();
    assert_eq!(parsed(&got), parsed(&reference), "{name}: sample");
    let rows = tickets(50);
    let reference = serde_json::to_vec(&rows).unwrap();
    let got = encode(&encoder, &rows).unwrap();
    assert_eq!(parsed(&got), parsed(&reference), "{name}: tickets");
    // f32: simd-json prints an f32 with the digits of its f64 widening; compared as f32.
    let floats = [0.1_f32, 1.0 / 3.0, 3.4e38, 1e-38];
    let got: Vec<f64> = serde_json::from_slice(&encode(&encoder, &floats).unwrap()).unwrap();
    let got: Vec<f32> = got.into_iter().map(|f| f as f32).collect();
    assert_eq!(got, floats, "{name}: f32");
}

/// Through a streamer, both formats: the body parses to the reference, and a NaN in the
/// third item is an encode error naming index 2.
async fn streams<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let config = ChunkConfig::with_sizes(4096, 2048);
    let pool = Arc::new(NoPool::new(config.pool));
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = Streamer::with_parts(config.clone(), Arc::clone(&pool), encoder.clone())
            .unwrap()
            .with_format(format);
        let rows = tickets(40);
        let got = body(streamer.stream(source::from_iter(rows.clone()), transform::passthrough()))
            .await
            .unwrap();
        let expected: Vec<Value> = rows
            .iter()
            .map(|t| serde_json::to_value(t).unwrap())
            .collect();
        let got: Vec<Value> = match format {
            chunkstream::format::Json::Array => serde_json::from_slice(&got).unwrap(),
            _ => got
                .split(|&b| b == b'\n')
                .filter(|line| !line.is_empty())
                .map(parsed)
                .collect(),
        };
        assert_eq!(got, expected, "{name}, {format:?}");

        let floats = [1.0, 2.0, f64::NAN, 4.0];
        let err = body(streamer.stream(source::from_iter(floats), transform::passthrough()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Encode {
                    index: 2,
                    source: EncodeError::NonFiniteFloat
                }
            ),
            "{name}: {err:?}"
        );

        // `bool` keys are strings in JSON, with every encoder (simd-json used to refuse).
        let maps = vec![BTreeMap::from([(true, 1)]), BTreeMap::from([(false, 2)])];
        let got = body(streamer.stream(source::from_iter(maps), transform::passthrough()))
            .await
            .unwrap();
        let expected = match format {
            chunkstream::format::Json::Array => r#"[{"true":1},{"false":2}]"#,
            _ => "{\"true\":1}\n{\"false\":2}\n",
        };
        assert_eq!(
            String::from_utf8(got).unwrap(),
            expected,
            "{name}, {format:?}"
        );

        // Tuple keys (refused, as serde_json refuses them) in the second item: an encode
        // error naming index 1.
        let maps = vec![BTreeMap::new(), BTreeMap::from([((1, 2), 3)])];
        let err = body(streamer.stream(source::from_iter(maps), transform::passthrough()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Encode {
                    index: 1,
                    source: EncodeError::Serialize(_)
                }
            ),
            "{name}: {err:?}"
        );
    }
}

/// A map written entry by entry from pairs, so keys need no `Ord` (floats) and come in
/// the given order; `split` uses `serialize_key` and `serialize_value` instead of
/// `serialize_entry`.
struct Pairs<K, V> {
    pairs: Vec<(K, V)>,
    split: bool,
}

impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.pairs.len()))?;
        for (key, value) in &self.pairs {
            if self.split {
                map.serialize_key(key)?;
                map.serialize_value(value)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize, Clone, Copy)]
struct UnitStruct;

#[derive(Serialize, Clone)]
struct Newtype<T>(T);

#[derive(Serialize, Clone)]
struct Point {
    x: i32,
}

#[derive(Serialize, Clone)]
enum Variant {
    Plain,
    Other,
    Wrapped(u8),
    Pair(u8, u8),
    Fields { a: u8 },
}

/// One map per key kind, each checked with both ways of writing an entry: the encoder
/// accepts it exactly when plain `serde_json::to_vec` does, and the accepted output
/// parses to the same value.
fn keys_as_serde_json<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let mut accepted = 0;
    let mut refused = 0;
    let mut check = |what: &str,
                     json: Result<Vec<u8>, serde_json::Error>,
                     ours: Result<Vec<u8>, EncodeError>| {
        match (json, ours) {
            (Ok(reference), Ok(got)) => {
                assert_eq!(parsed(&got), parsed(&reference), "{name}: {what}");
                accepted += 1;
            }
            (Err(_), Err(err)) => {
                assert!(
                    matches!(err, EncodeError::Serialize(_) | EncodeError::NonFiniteFloat),
                    "{name}: {what}: {err:?}"
                );
                refused += 1;
            }
            (Ok(reference), Err(err)) => panic!(
                "{name}: {what}: refused ({err}), serde_json writes {}",
                String::from_utf8_lossy(&reference)
            ),
            (Err(reference), Ok(got)) => panic!(
                "{name}: {what}: accepted as {}, serde_json refuses ({reference})",
                String::from_utf8_lossy(&got)
            ),
        }
    };
    macro_rules! case {
        ($what:expr, [$($key:expr),+ $(,)?]) => {
            for split in [false, true] {
                let map = Pairs { pairs: vec![$(($key, 1)),+], split };
                let what = format!("{} (split: {split})", $what);
                check(&what, serde_json::to_vec(&map), encode(&encoder, &map));
            }
        };
    }
    case!("string", ["a", "", "quote \" and \\", "é 🦀"]);
    case!("String", [String::from("owned")]);
    case!("char", ['x', '"', '漢']);
    case!("bool", [true, false]);
    case!("i8", [i8::MIN, -1_i8, 0, i8::MAX]);
    case!("i16", [i16::MIN, i16::MAX]);
    case!("i32", [i32::MIN, -7, i32::MAX]);
    case!("i64", [i64::MIN, i64::MAX]);
    case!("i128", [i128::MIN, i128::MAX]);
    case!("u8", [0_u8, u8::MAX]);
    case!("u16", [u16::MAX]);
    case!("u32", [u32::MAX]);
    case!("u64", [u64::MAX]);
    case!("u128", [u128::MAX]);
    case!("f32", [0.1_f32, -1.5, 1.0, 3.4e38, 1e-38]);
    case!(
        "f64",
        [
            0.0_f64,
            -0.0,
            0.1,
            1.0,
            1e21,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE
        ]
    );
    case!("f32 NaN", [f32::NAN]);
    case!("f64 infinity", [f64::INFINITY]);
    case!("f64 -infinity", [f64::NEG_INFINITY]);
    case!("unit", [()]);
    case!("unit struct", [UnitStruct]);
    case!("newtype of u32", [Newtype(7_u32)]);
    case!("newtype of str", [Newtype("n")]);
    case!("newtype of bool", [Newtype(true)]);
    case!("newtype of f64", [Newtype(2.5_f64)]);
    case!("newtype of tuple", [Newtype((1, 2))]);
    case!("unit variants", [Variant::Plain, Variant::Other]);
    case!("newtype variant", [Variant::Wrapped(1)]);
    case!("tuple variant", [Variant::Pair(1, 2)]);
    case!("struct variant", [Variant::Fields { a: 1 }]);
    case!("Some", [Some(3_u8)]);
    case!("Some string", [Some("s")]);
    case!("None", [None::<u8>]);
    case!("tuple", [(1, 2)]);
    case!("1-tuple", [(1,)]);
    case!("struct", [Point { x: 1 }]);
    case!("Vec<u8>", [vec![1_u8, 2]]);
    case!("bytes", [serde_bytes_like::Bytes(vec![1, 2])]);
    case!("map", [BTreeMap::from([("k", 1)])]);
    // A `Display` key (through `collect_str`) and a nested map with an accepted key.
    case!("collect_str", [std::net::Ipv4Addr::LOCALHOST]);
    let nested = BTreeMap::from([(1_u8, BTreeMap::from([(false, [1.5_f32])]))]);
    check(
        "nested",
        serde_json::to_vec(&nested),
        encode(&encoder, &nested),
    );
    println!("{name}: {accepted} accepted, {refused} refused, as serde_json");
    assert!(accepted > 0 && refused > 0);
}

/// A non-finite float in the third item (at any depth) is `StreamError::Encode` naming
/// index 2 with `EncodeError::NonFiniteFloat`, on every path and in both formats.
async fn non_finite_on_every_path<E: Encoder>(encoder: E) {
    let name = std::any::type_name::<E>();
    let mut config = ChunkConfig::with_sizes(4096, 2048);
    config.batch_size = 2;
    let pool = Arc::new(NoPool::new(config.pool));
    let items = || {
        vec![
            BTreeMap::from([("v", vec![1.0])]),
            BTreeMap::from([("v", vec![2.0])]),
            BTreeMap::from([("v", vec![3.0, f64::INFINITY])]),
            BTreeMap::from([("v", vec![4.0])]),
        ]
    };
    for format in [
        chunkstream::format::Json::Array,
        chunkstream::format::Json::Ndjson,
    ] {
        let streamer = Streamer::with_parts(config.clone(), Arc::clone(&pool), encoder.clone())
            .unwrap()
            .with_format(format);
        let paths = [
            (
                "stream",
                streamer.stream(source::from_iter(items()), transform::passthrough()),
            ),
            (
                "stream_batch",
                streamer.stream_batch(source::from_iter(items()), transform::batch_passthrough()),
            ),
            (
                "spawn",
                streamer
                    .stream(source::from_iter(items()), transform::passthrough())
                    .spawn(),
            ),
            (
                "spawn_batch",
                streamer
                    .stream_batch(source::from_iter(items()), transform::batch_passthrough())
                    .spawn(),
            ),
        ];
        for (path, stream) in paths {
            let err = body(stream).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    StreamError::Encode {
                        index: 2,
                        source: EncodeError::NonFiniteFloat
                    }
                ),
                "{name}, {path}, {format:?}: {err:?}"
            );
        }
        // A NaN map key is refused the same way.
        let keys = vec![
            Pairs {
                pairs: vec![(1.0, 1)],
                split: false,
            },
            Pairs {
                pairs: vec![(f64::NAN, 2)],
                split: false,
            },
        ];
        let err = body(streamer.stream(source::from_iter(keys), transform::passthrough()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::Encode {
                    index: 1,
                    source: EncodeError::NonFiniteFloat
                }
            ),
            "{name}, NaN key, {format:?}: {err:?}"
        );
    }
}

macro_rules! encoder_tests {
    ($(#[$cfg:meta] $module:ident, $encoder:expr;)*) => {$(
        #[$cfg]
        mod $module {
            use super::*;

            #[test]
            fn refuses_nan() {
                refuses_non_finite_floats($encoder);
            }

            #[test]
            fn refuses_non_string_map_keys() {
                refuses_non_string_keys($encoder);
            }

            #[test]
            fn map_keys_as_serde_json() {
                keys_as_serde_json($encoder);
            }

            #[tokio::test]
            async fn non_finite_is_an_encode_error_on_every_path() {
                non_finite_on_every_path($encoder).await;
            }

            #[test]
            fn agrees_with_the_reference() {
                agrees_with_serde_json($encoder);
            }

            #[tokio::test]
            async fn streams_both_formats() {
                streams($encoder).await;
            }
        }
    )*};
}

encoder_tests! {
    // Always compiled, whatever the features.
    #[cfg(all())] serde_json_encoder, chunkstream::encode::SerdeJson;
    #[cfg(feature = "encoder-simd-json")] simd_json_encoder, chunkstream::encode::SimdJson;
    #[cfg(feature = "encoder-sonic-rs")] sonic_rs_encoder, chunkstream::encode::SonicRs;
}

/// sonic-rs writes the same bytes as serde_json (simd-json does not: its floats differ).
#[cfg(feature = "encoder-sonic-rs")]
#[test]
fn sonic_rs_is_byte_identical_to_serde_json() {
    let encoder = chunkstream::encode::SonicRs;
    let reference = serde_json::to_vec(&sample(2)).unwrap();
    assert_eq!(
        String::from_utf8(encode(&encoder, &sample(2)).unwrap()).unwrap(),
        String::from_utf8(reference).unwrap()
    );
    let rows = tickets(50);
    assert!(encode(&encoder, &rows).unwrap() == serde_json::to_vec(&rows).unwrap());
}

/// sonic-rs against serde_json byte for byte, over generated values: floats from every
/// bit pattern (finite), f32, the 128-bit integers, strings with any character
/// (controls, quotes, backslashes, non-ASCII, U+2028), options, maps and nesting, and a
/// list of values at the edges of float formatting. The default encoder is whichever is
/// fastest of those that pass this.
#[cfg(feature = "encoder-sonic-rs")]
mod sonic_rs_bytes {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use chunkstream::encode::SerdeJson;

    use super::encode;

    #[derive(Clone, Debug, Serialize)]
    struct Row {
        f: f64,
        g: f32,
        u: u128,
        i: i128,
        a: u64,
        b: i64,
        s: String,
        c: char,
        floats: Vec<f64>,
        maybe: Option<String>,
        map: BTreeMap<String, f64>,
        nested: Vec<(String, Option<f32>)>,
    }

    fn finite64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<u64>().prop_map(f64::from_bits),
            any::<f64>(),
            (-1e6..1e6_f64),
        ]
        .prop_filter("finite", |f| f.is_finite())
    }

    fn finite32() -> impl Strategy<Value = f32> {
        any::<u32>()
            .prop_map(f32::from_bits)
            .prop_filter("finite", |f| f.is_finite())
    }

    fn rows() -> impl Strategy<Value = Row> {
        (
            (finite64(), finite32(), any::<u128>(), any::<i128>()),
            (any::<u64>(), any::<i64>(), any::<String>(), any::<char>()),
            (
                prop::collection::vec(finite64(), 0..8),
                any::<Option<String>>(),
                prop::collection::btree_map(any::<String>(), finite64(), 0..4),
                prop::collection::vec((any::<String>(), prop::option::of(finite32())), 0..4),
            ),
        )
            .prop_map(
                |((f, g, u, i), (a, b, s, c), (floats, maybe, map, nested))| Row {
                    f,
                    g,
                    u,
                    i,
                    a,
                    b,
                    s,
                    c,
                    floats,
                    maybe,
                    map,
                    nested,
                },
            )
    }

    fn same<T: Serialize + ?Sized>(value: &T) -> Result<(), TestCaseError> {
        let sonic = encode(&chunkstream::encode::SonicRs, value).map_err(|e| {
            TestCaseError::fail(format!("sonic-rs refused what serde_json takes: {e}"))
        })?;
        let reference = encode(&SerdeJson, value).expect("serde_json encodes it");
        prop_assert_eq!(
            String::from_utf8_lossy(&sonic),
            String::from_utf8_lossy(&reference)
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn generated_values(row in rows()) {
            same(&row)?;
        }
    }

    #[test]
    fn float_formatting_edges() {
        let edges: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            0.3,
            1.5,
            1e7,
            1e15,
            1e16,
            1e17,
            1e20,
            1e21,
            1e22,
            1e-5,
            1e-6,
            1e-7,
            1.23e-7,
            5e-324,
            2.2250738585072014e-308,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            123_456_789_012_345_680_000.0,
            9_007_199_254_740_993.0,
            0.000_001,
            1.0 / 3.0,
            2.0_f64.powi(53),
            2.0_f64.powi(64),
        ];
        same(&edges).unwrap();
        let edges32: Vec<f32> = vec![
            0.1,
            1e-7,
            1e21,
            3.4028235e38,
            f32::MIN_POSITIVE,
            1.0 / 3.0,
            16_777_217.0,
        ];
        same(&edges32).unwrap();
        same(&(u128::MAX, i128::MIN, u64::MAX, i64::MIN)).unwrap();
        same("\u{0}\u{1f}\u{7f}\"\\/\u{2028}\u{2029}é😀\t\r\n\u{8}\u{c}").unwrap();
    }
}
