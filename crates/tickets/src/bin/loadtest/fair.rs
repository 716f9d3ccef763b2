//! The fairness scenarios (issue 18): slow readers beside small requests, many full
//! downloads through the queue, a burst of small requests, and keep-alive connections
//! asking as fast as they can. Each reports counts; a wrong body fails the run.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncReadExt as _;

use super::{
    Args, Error, Outcome, Server, client, client_keeping, fetch, get_with_small_window, reference,
    small_requests,
};

/// The server's `/healthz` body.
async fn health(server: &Server) -> Result<serde_json::Value, Error> {
    let body = client()?
        .get(server.url("/healthz"))
        .send()
        .await?
        .bytes()
        .await?;
    Ok(serde_json::from_slice(&body)?)
}

/// A client that requests `path` and reads its body at about `rate` bytes/s (a quarter
/// of a second's worth at a time) until the server ends the response or `until`; the
/// status, the bytes read and whether the server ended it.
async fn slow_reader(
    addr: SocketAddr,
    path: &str,
    rate: usize,
    until: Instant,
) -> Result<(u16, u64, bool), Error> {
    let mut buf = vec![0_u8; (rate / 4).max(1)];
    let (mut stream, status, n) = get_with_small_window(addr, path, &mut buf).await?;
    let mut read = n as u64;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match tokio::time::timeout_at(until.into(), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Ok((status, read, true)),
            Ok(Ok(n)) => read += n as u64,
            Err(_) => break,
        }
    }
    Ok((status, read, false))
}

/// `--slow` readers at `--slow-rate` bytes/s on `/tickets`, and beside them
/// `--clients` clients asking `/tickets?limit=10` for `--seconds`: every small
/// request must be a complete `200`. Then the slow readers must be cut by the minimum
/// rate (the server's log says so, with the rate) while they still read, and every slot
/// must be free.
pub(super) async fn slow(args: &Args, server: &Server) -> Result<(), Error> {
    let client = client()?;
    let small_url = server.url("/tickets?limit=10");
    let small_reference = reference(&client, &small_url).await?;
    let readers_until = Instant::now() + Duration::from_secs_f64(args.cut_within);
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..args.slow {
        let addr = server.addr;
        let rate = args.slow_rate;
        readers.spawn(async move { slow_reader(addr, "/tickets", rate, readers_until).await });
    }
    // The readers hold their slots before the small requests start.
    let began = Instant::now();
    while health(server).await?["streams"]["active"].as_u64() < Some(args.slow as u64)
        && began.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let active = health(server).await?["streams"]["active"].clone();
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let tally = small_requests(&client, &small_url, &small_reference, args.clients, until).await?;
    println!("{}", tally.line("small"));
    println!(
        "slow_readers={} slots_active_while_small={active}",
        args.slow
    );

    // The minimum rate cuts them: every slot frees while they still read.
    let mut freed_after = None;
    while Instant::now() < readers_until {
        let health = health(server).await?;
        if health["streams"]["active"] == 0 && server.cuts() >= args.slow as u64 {
            freed_after = Some(began.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = health(server).await?;
    readers.abort_all();
    let mut statuses = Vec::new();
    while let Some(joined) = readers.join_next().await {
        if let Ok(Ok((status, _, _))) = joined {
            statuses.push(status);
        }
    }
    println!(
        "slow_cut_by_min_rate={} slots_free_after_secs={} slots_active_after={} healthz_after={health}",
        server.cuts(),
        freed_after.map_or(-1.0, |d| d.as_secs_f64()),
        health["streams"]["active"]
    );
    let busy = tally.busy.load(Relaxed) + tally.wrong.load(Relaxed);
    if busy > 0 {
        return Err(format!("{busy} small requests were not a complete 200").into());
    }
    if freed_after.is_none() {
        return Err("the slow readers were not all cut by the minimum rate in time".into());
    }
    if statuses.iter().any(|&s| s != 200) {
        return Err(format!("the slow readers got {statuses:?}").into());
    }
    println!("result=ok");
    Ok(())
}

/// One download compared with the reference as it arrives (no copy of the body kept):
/// complete, a `503` with its reason and wait, or wrong.
enum Download {
    Complete,
    Refused {
        reason: String,
        waited_ms: u64,
        took: Duration,
    },
    Wrong(String),
}

async fn download(client: &reqwest::Client, url: &str, reference: &Bytes) -> Download {
    let began = Instant::now();
    let mut response = match client.get(url).send().await {
        Ok(response) => response,
        Err(err) => return Download::Wrong(format!("request failed: {err}")),
    };
    let status = response.status();
    if status == 503 && response.headers().contains_key("retry-after") {
        let body = response.bytes().await.unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        return Download::Refused {
            reason: problem["reason"].as_str().unwrap_or("none").to_owned(),
            waited_ms: problem["waited_ms"].as_u64().unwrap_or(0),
            took: began.elapsed(),
        };
    }
    if status != 200 {
        return Download::Wrong(format!("status {status}"));
    }
    let mut at = 0;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if reference.get(at..at + chunk.len()) != Some(&chunk[..]) {
                    return Download::Wrong(format!("body differs from byte {at} on"));
                }
                at += chunk.len();
            }
            Ok(None) if at == reference.len() => return Download::Complete,
            Ok(None) => return Download::Wrong(format!("body ended at byte {at}")),
            Err(err) => return Download::Wrong(format!("body failed at byte {at}: {err}")),
        }
    }
}

/// `--downloads` clients each downloading the whole table `--rounds` times, no retries:
/// every download is complete and byte-identical, or a `503` given only after its queue
/// wait ran out.
pub(super) async fn downloads(args: &Args, server: &Server) -> Result<(), Error> {
    let client = client()?;
    let url = server.url("/tickets");
    let reference = reference(&client, &url).await?;
    let wait_limit_ms = health(server).await?["admission"]["wait_limit_ms"]
        .as_u64()
        .unwrap_or(0);
    let complete = Arc::new(AtomicU64::new(0));
    let after_wait = Arc::new(AtomicU64::new(0));
    let early = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let longest_refusal_ms = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..args.downloads {
        let (client, url, reference) = (client.clone(), url.clone(), reference.clone());
        let (complete, after_wait, early, wrong, longest) = (
            complete.clone(),
            after_wait.clone(),
            early.clone(),
            wrong.clone(),
            longest_refusal_ms.clone(),
        );
        let rounds = args.rounds;
        tasks.spawn(async move {
            for round in 0..rounds {
                match download(&client, &url, &reference).await {
                    Download::Complete => complete.fetch_add(1, Relaxed),
                    Download::Refused {
                        reason,
                        waited_ms,
                        took,
                    } => {
                        longest.fetch_max(took.as_millis() as u64, Relaxed);
                        if reason == "queue_wait_expired" && waited_ms >= wait_limit_ms {
                            after_wait.fetch_add(1, Relaxed)
                        } else {
                            eprintln!(
                                "loadtest: download {i}.{round}: 503 ({reason}) after {waited_ms} ms"
                            );
                            early.fetch_add(1, Relaxed)
                        }
                    }
                    Download::Wrong(why) => {
                        eprintln!("loadtest: download {i}.{round}: {why}");
                        wrong.fetch_add(1, Relaxed)
                    }
                };
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    let total = (args.downloads * args.rounds).max(1) as f64;
    let done = complete.load(Relaxed);
    let health = health(server).await?;
    println!(
        "downloads={} downloads_complete={done} downloads_503_after_queue_wait={} \
         downloads_503_early={} downloads_wrong={} complete_pct={:.1} \
         longest_wait_for_a_slot_ms={} longest_wait_before_503_ms={} queue_wait_limit_ms={wait_limit_ms} \
         elapsed_secs={:.1} reference_bytes={}",
        total as u64,
        after_wait.load(Relaxed),
        early.load(Relaxed),
        wrong.load(Relaxed),
        done as f64 * 100.0 / total,
        health["admission"]["longest_wait_ms"],
        longest_refusal_ms.load(Relaxed),
        began.elapsed().as_secs_f64(),
        reference.len()
    );
    println!("admission_after={}", health["admission"]);
    if wrong.load(Relaxed) + early.load(Relaxed) > 0 {
        return Err("some downloads were wrong or refused before their queue wait ran out".into());
    }
    println!("result=ok");
    Ok(())
}

/// Latencies, the count of complete `200`s and of anything else.
#[derive(Default)]
struct Requests {
    latencies_us: Vec<u64>,
    ok: u64,
    other: u64,
}

impl Requests {
    fn merge(&mut self, other: Requests) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        self.other += other.other;
    }

    /// `result=ok` if every response was a complete `200`, else the count that was not.
    fn all_complete(&self) -> Result<(), Error> {
        if self.other > 0 {
            return Err(format!("{} responses were not a complete 200", self.other).into());
        }
        println!("result=ok");
        Ok(())
    }

    /// The `p`-th quantile of the latencies (sorted), in milliseconds.
    fn quantile_ms(&self, p: f64) -> f64 {
        let last = self.latencies_us.len().saturating_sub(1);
        let at = ((self.latencies_us.len() as f64 * p) as usize).min(last);
        self.latencies_us.get(at).map_or(0.0, |&us| us as f64 / 1e3)
    }
}

/// GETs `url` over `client` (its own keep-alive connection), `times` times or until
/// `until`, comparing each body with `reference`.
async fn requests(
    client: reqwest::Client,
    url: String,
    reference: Bytes,
    times: Option<usize>,
    until: Option<Instant>,
) -> Requests {
    let mut done = Requests::default();
    for _ in 0..times.unwrap_or(usize::MAX) {
        if until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let began = Instant::now();
        match fetch(&client, &url, &reference).await {
            Outcome::Complete => done.ok += 1,
            Outcome::Busy(_) | Outcome::Wrong(_) => done.other += 1,
        }
        done.latencies_us
            .push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    done
}

/// `clients` keep-alive connections, each asking `path` `times` times or until
/// `until`, all at once.
async fn many(
    server: &Server,
    path: &str,
    clients: usize,
    times: Option<usize>,
    until: Option<Instant>,
) -> Result<(Requests, Duration), Error> {
    let url = server.url(path);
    let reference = reference(&client()?, &url).await?;
    let began = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, url, reference) = (client_keeping(1)?, url.clone(), reference.clone());
        tasks.spawn(requests(client, url, reference, times, until));
    }
    let mut all = Requests::default();
    while let Some(joined) = tasks.join_next().await {
        all.merge(joined?);
    }
    all.latencies_us.sort_unstable();
    Ok((all, began.elapsed()))
}

/// `--connections` connections making `--per-connection` small requests each, all at
/// once: every response a complete `200`.
pub(super) async fn burst(args: &Args, server: &Server) -> Result<(), Error> {
    let (done, took) = many(
        server,
        "/tickets?limit=10",
        args.connections,
        Some(args.per_connection),
        None,
    )
    .await?;
    println!(
        "burst_connections={} burst_requests={} burst_200={} burst_other={} burst_p99_ms={:.1} burst_secs={:.2}",
        args.connections,
        done.ok + done.other,
        done.ok,
        done.other,
        done.quantile_ms(0.99),
        took.as_secs_f64()
    );
    done.all_complete()
}

/// `--clients` keep-alive connections asking `/tickets?limit=100` as fast as they
/// can for `--seconds`: the rate, the latency and every response a complete `200`.
/// Runs against any version of the service (it uses no endpoint but `/tickets`).
pub(super) async fn keepalive(args: &Args, server: &Server) -> Result<(), Error> {
    let until = Instant::now() + Duration::from_secs_f64(args.seconds);
    let (done, took) = many(
        server,
        "/tickets?limit=100",
        args.clients,
        None,
        Some(until),
    )
    .await?;
    println!(
        "keepalive_connections={} keepalive_200={} keepalive_other={} requests_per_sec={:.0} \
         p50_ms={:.2} p99_ms={:.2} secs={:.1}",
        args.clients,
        done.ok,
        done.other,
        done.ok as f64 / took.as_secs_f64(),
        done.quantile_ms(0.5),
        done.quantile_ms(0.99),
        took.as_secs_f64()
    );
    done.all_complete()
}
