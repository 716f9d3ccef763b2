//! `StreamResponse` as axum's `IntoResponse`: headers and body, an error before the
//! first chunk as a status, one after it as an aborted body.
#![cfg(feature = "axum")]

use http::StatusCode;
use http_body_util::BodyExt;

use axum::response::{IntoResponse, Response};
use chunkstream::{ChunkConfig, StreamResponse, Streamer, source, transform};
use http::header::CONTENT_TYPE;

async fn body_of(response: Response) -> Result<Vec<u8>, axum::Error> {
    Ok(response.into_body().collect().await?.to_bytes().to_vec())
}

#[tokio::test]
async fn headers_and_body() {
    let streamer = Streamer::new(ChunkConfig::default())
        .unwrap()
        .with_format(chunkstream::format::Ndjson);
    let chunks = streamer.stream(source::from_iter(1..=3), transform::passthrough());
    let response = StreamResponse::new(chunks)
        .with_total_count(3)
        .start()
        .await
        .into_response();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(response.headers()["x-total-count"], "3");
    assert_eq!(body_of(response).await.unwrap(), b"1\n2\n3\n");
}

#[tokio::test]
async fn error_before_first_chunk_is_a_status() {
    let streamer = Streamer::new(ChunkConfig::default()).unwrap();
    let failing = futures_util::stream::iter([Err::<u32, _>(std::io::Error::other("boom"))]);
    let response = StreamResponse::new(streamer.stream(failing, transform::passthrough()))
        .start()
        .await
        .into_response();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let body: serde_json::Value =
        serde_json::from_slice(&body_of(response).await.unwrap()).unwrap();
    assert_eq!(body["error"], "source");
    assert_eq!(body["message"], "the source of the stream failed");
    assert!(body["id"].is_string());
}

#[tokio::test]
async fn error_after_first_chunk_aborts() {
    let config = ChunkConfig::with_sizes(64, 16);
    let streamer = Streamer::new(config).unwrap();
    let items = (0..100).map(|i| {
        if i == 50 {
            Err(std::io::Error::other("late"))
        } else {
            Ok(i)
        }
    });
    let chunks = streamer.stream(futures_util::stream::iter(items), transform::passthrough());
    let response = StreamResponse::new(chunks).start().await.into_response();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(body_of(response).await.is_err());
}

/// Over real HTTP, a failure right behind the first chunks (every item ready at once, so
/// hyper writes without waiting) still lets the status line and those chunks out: the
/// client sees a `200` whose body then fails, never a connection closed before any
/// response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_error_right_after_the_first_chunk_is_a_200_then_an_abort() {
    async fn failing() -> StreamResponse {
        let items = (0..100).map(|i| match i {
            50 => Err(std::io::Error::other("late")),
            i => Ok(i),
        });
        Streamer::new(ChunkConfig::with_sizes(64, 16))
            .unwrap()
            .stream(futures_util::stream::iter(items), transform::passthrough())
            .respond()
            .await
    }
    let app = axum::Router::new().route("/", axum::routing::get(failing));
    let addr = crate::common::serve(app).await;
    let client = reqwest::Client::new();
    for _ in 0..50 {
        let response = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.bytes().await.is_err(),
            "a truncated body must not look complete"
        );
    }
}
