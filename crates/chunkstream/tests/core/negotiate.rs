//! Content negotiation through the public API: q-values, wildcards, specificity, ties,
//! parameters, the explicit override, garbage (never a panic), and over real HTTP a
//! handler that serves JSON or NDJSON by `Accept` and answers 406 with the offers.

use chunkstream::negotiate::{NotAcceptable, Offer, negotiate, negotiate_headers};
use proptest::prelude::*;

const OFFERS: [Offer; 3] = [
    Offer::new("json", "application/json"),
    Offer::new("ndjson", "application/x-ndjson"),
    Offer::new("csv", "text/csv; charset=utf-8"),
];

fn pick(accept: &str) -> Result<usize, NotAcceptable> {
    negotiate(&OFFERS, Some(accept), None)
}

#[test]
fn no_accept_and_any_give_the_first_offer() {
    assert_eq!(negotiate(&OFFERS, None, None), Ok(0));
    assert_eq!(pick("*/*"), Ok(0));
    assert_eq!(pick(""), Ok(0));
    assert_eq!(pick("  ,  , "), Ok(0));
}

#[test]
fn q_values_order_the_offers() {
    assert_eq!(
        pick("application/json;q=0.5, application/x-ndjson;q=0.8"),
        Ok(1)
    );
    assert_eq!(
        pick("application/json;q=0.9, application/x-ndjson;q=0.899"),
        Ok(0)
    );
    assert_eq!(pick("text/csv;q=1.000, application/json;q=0.999"), Ok(2));
    // Case and spaces do not matter.
    assert_eq!(
        pick("Application/X-NDJSON ; Q=0.7 , application/json ; q=0.3"),
        Ok(1)
    );
}

#[test]
fn q_zero_means_not_acceptable() {
    assert_eq!(pick("*/*, application/json;q=0"), Ok(1));
    assert_eq!(pick("*/*;q=0"), Err(refused()));
    assert_eq!(pick("application/json;q=0.0, text/*;q=0"), Err(refused()));
}

#[test]
fn the_most_specific_range_decides() {
    // `text/*` would allow CSV, `text/csv` refuses it.
    assert_eq!(pick("text/*, text/csv;q=0"), Err(refused()));
    assert_eq!(pick("text/*;q=0, text/csv"), Ok(2));
    // Listed explicitly beats a wildcard at the same q, whatever the order offered.
    assert_eq!(pick("*/*, application/x-ndjson"), Ok(1));
    assert_eq!(pick("application/*, application/x-ndjson"), Ok(1));
    assert_eq!(pick("text/*"), Ok(2));
}

#[test]
fn ties_go_to_the_first_offered() {
    assert_eq!(pick("application/x-ndjson, application/json"), Ok(0));
    assert_eq!(pick("application/*"), Ok(0));
    assert_eq!(pick("text/csv;q=0.5, application/x-ndjson;q=0.5"), Ok(1));
}

#[test]
fn parameters_must_match_the_offer() {
    assert_eq!(pick("text/csv;charset=utf-8"), Ok(2));
    assert_eq!(pick("text/csv;charset=\"UTF-8\""), Ok(2));
    assert_eq!(pick("text/csv;charset=latin1"), Err(refused()));
    // A range with a parameter is more specific than one without.
    assert_eq!(
        pick("text/csv;q=0.1, text/csv;charset=utf-8;q=0.9, application/json;q=0.5"),
        Ok(2)
    );
    // After the weight come accept-extensions, which are no media type parameters.
    assert_eq!(pick("text/csv;q=0.9;level=1"), Ok(2));
    // A quoted value may hold the separators.
    assert_eq!(pick("text/csv;x=\"a,b;c\", application/json;q=0.1"), Ok(0));
}

#[test]
fn invalid_ranges_are_skipped() {
    assert_eq!(pick("nonsense, application/x-ndjson"), Ok(1));
    assert_eq!(pick("application/json;q=2, text/csv"), Ok(2));
    assert_eq!(pick("application/json;q=abc, text/csv;q=0.5"), Ok(2));
    assert_eq!(pick("*/json, text/csv"), Ok(2));
    // Nothing valid: the header is disregarded.
    assert_eq!(pick("garbage;;;==,,/"), Ok(0));
}

#[test]
fn nothing_offered_fits_is_406_with_the_offers() {
    let refused = pick("text/html, image/png").unwrap_err();
    assert_eq!(refused.status(), http::StatusCode::NOT_ACCEPTABLE);
    let body: serde_json::Value = serde_json::from_str(&refused.body()).unwrap();
    assert_eq!(body["error"], "not_acceptable");
    assert_eq!(
        body["offered"],
        serde_json::json!([
            "application/json",
            "application/x-ndjson",
            "text/csv; charset=utf-8"
        ])
    );
    assert_eq!(
        negotiate(&[], None, None).unwrap_err().offered(),
        [] as [&str; 0]
    );
}

#[test]
fn the_explicit_override_takes_precedence() {
    assert_eq!(
        negotiate(&OFFERS, Some("application/json"), Some("ndjson")),
        Ok(1)
    );
    assert_eq!(negotiate(&OFFERS, Some("text/html"), Some("CSV")), Ok(2));
    assert_eq!(
        negotiate(&OFFERS, None, Some("application/x-ndjson")),
        Ok(1)
    );
    assert_eq!(negotiate(&OFFERS, None, Some("text/csv")), Ok(2));
    // Empty: no override.
    assert_eq!(negotiate(&OFFERS, Some("text/csv"), Some("")), Ok(2));
    assert_eq!(negotiate(&OFFERS, None, Some("xml")), Err(refused()));
}

#[test]
fn several_accept_headers_are_one_list() {
    let mut headers = http::HeaderMap::new();
    headers.append(
        http::header::ACCEPT,
        "application/json;q=0.2".parse().unwrap(),
    );
    headers.append(http::header::ACCEPT, "text/csv;q=0.4".parse().unwrap());
    assert_eq!(negotiate_headers(&OFFERS, &headers, None), Ok(2));
    assert_eq!(
        negotiate_headers(&OFFERS, &http::HeaderMap::new(), None),
        Ok(0)
    );
    // A value that is not visible ASCII is disregarded.
    let mut odd = http::HeaderMap::new();
    odd.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_bytes(b"text/csv\xff").unwrap(),
    );
    assert_eq!(negotiate_headers(&OFFERS, &odd, None), Ok(0));
}

fn refused() -> NotAcceptable {
    negotiate(&OFFERS, Some("x/y"), None).unwrap_err()
}

proptest! {
    /// Any header and override, garbage included: an answer, never a panic, and an index
    /// in range.
    #[test]
    fn garbage_never_panics(accept in ".{0,80}", structured in "[a-z*/;=q0-9., \"\\\\-]{0,60}", explicit in proptest::option::of(".{0,12}")) {
        for accept in [accept.as_str(), structured.as_str()] {
            if let Ok(index) = negotiate(&OFFERS, Some(accept), explicit.as_deref()) {
                prop_assert!(index < OFFERS.len());
            }
        }
    }
}

/// Over real HTTP: one handler, JSON or NDJSON by `Accept` or `?format=`, 406 otherwise.
#[cfg(feature = "axum")]
mod http_negotiation {
    use super::*;
    use axum::Router;
    use axum::extract::{Query, State};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use chunkstream::format::Json;
    use chunkstream::{ChunkConfig, Streamer, source};

    const OFFERED: [Offer; 2] = [
        Offer::new("json", "application/json"),
        Offer::new("ndjson", "application/x-ndjson"),
    ];

    #[derive(serde::Deserialize)]
    struct Params {
        format: Option<String>,
    }

    async fn items(
        State(streamer): State<Streamer>,
        Query(params): Query<Params>,
        headers: http::HeaderMap,
    ) -> Response {
        let format = match negotiate_headers(&OFFERED, &headers, params.format.as_deref()) {
            Ok(0) => Json::Array,
            Ok(_) => Json::Ndjson,
            Err(refused) => return refused.into_response(),
        };
        streamer
            .with_format(format)
            .json(source::from_iter(1..=3))
            .respond()
            .await
            .into_response()
    }

    async fn get_with(
        addr: std::net::SocketAddr,
        query: &str,
        accept: Option<&str>,
    ) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let mut request = client.get(format!("http://{addr}/items{query}"));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_by_accept_and_refuses_with_406() {
        let streamer = Streamer::new(ChunkConfig::default()).unwrap();
        let router = Router::new()
            .route("/items", get(items))
            .with_state(streamer);
        let addr = crate::common::serve(router).await;

        // reqwest sends no `Accept` unless told.
        for accept in [None, Some("*/*")] {
            let response = get_with(addr, "", accept).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/json");
            assert_eq!(response.text().await.unwrap(), "[1,2,3]");
        }

        let response = get_with(
            addr,
            "",
            Some("application/json;q=0.5, application/x-ndjson"),
        )
        .await;
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        assert_eq!(response.text().await.unwrap(), "1\n2\n3\n");

        let response = get_with(addr, "?format=ndjson", Some("application/json")).await;
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");

        for (query, accept) in [("", Some("text/csv")), ("?format=csv", None)] {
            let response = get_with(addr, query, accept).await;
            assert_eq!(response.status(), 406);
            assert_eq!(response.headers()["content-type"], "application/json");
            let body: serde_json::Value =
                serde_json::from_str(&response.text().await.unwrap()).unwrap();
            assert_eq!(
                body["offered"],
                serde_json::json!(["application/json", "application/x-ndjson"])
            );
        }
    }
}
