//! Compression at the front door: responses encoded as `Accept-Encoding`
//! asks (gzip, br, zstd) from `minBytes` on, and request bodies sent with
//! `Content-Encoding: gzip` decoded with their decoded size held to
//! `maxBodyBytes`: a compression bomb gets 413 and the process does not grow.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tributary::demo::MockService;

/// An upstream with a list big enough to be worth compressing.
async fn items() -> MockService {
    let list: Vec<Value> = (0..200)
        .map(|i| json!({ "id": i, "name": format!("Item number {i} of the catalogue") }))
        .collect();
    support::mock("items", 0, support::json_route("/items", json!(list))).await
}

fn sdl(server: &str) -> String {
    format!(
        r#"schema @upstream(name: "items", url: "${{ITEMS_URL}}") {server} {{ query: Query }}
type Query {{ items: [Item!] @rest(upstream: "items", path: "/items") }}
type Item {{ id: ID! name: String }}"#
    )
}

const BIG: &str = "{ items { id name } }";
const SMALL: &str = "{ __typename }";

struct Reply {
    status: u16,
    encoding: Option<String>,
    vary: Vec<String>,
    accept_encoding: Option<String>,
    bytes: Vec<u8>,
}

impl Reply {
    /// The body decoded as its `Content-Encoding` says.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.encoding.as_deref() {
            None => out.extend_from_slice(&self.bytes),
            Some("gzip") => {
                flate2::read::GzDecoder::new(&self.bytes[..])
                    .read_to_end(&mut out)
                    .expect("valid gzip");
            }
            Some("br") => {
                brotli::Decompressor::new(&self.bytes[..], 4096)
                    .read_to_end(&mut out)
                    .expect("valid brotli");
            }
            Some("zstd") => out = zstd::stream::decode_all(&self.bytes[..]).expect("valid zstd"),
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
        out
    }

    fn json(&self) -> Value {
        let decoded = self.decoded();
        serde_json::from_slice(&decoded)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&decoded)))
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("gateway answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let encoding = header("content-encoding");
    let accept_encoding = header("accept-encoding");
    let vary = response
        .headers()
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("body reads").to_vec();
    Reply {
        status,
        encoding,
        vary,
        accept_encoding,
        bytes,
    }
}

/// POSTs `query` accepting `accept_encoding` (the test client decodes nothing).
async fn query(gw: &support::TestGateway, query: &str, accept_encoding: Option<&str>) -> Reply {
    let mut request = gw
        .client
        .post(gw.url())
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string());
    if let Some(accept) = accept_encoding {
        request = request.header("accept-encoding", accept);
    }
    send(request).await
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip writes");
    encoder.finish().expect("gzip finishes")
}

/// A gzip file (one member) of `mib` MiB of zeros, built without
/// compressing them all: a fully flushed deflate chunk of 1 MiB of zeros
/// refers to nothing before it, so it can be repeated.
fn gzip_of_zeros(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    let zeros = vec![0u8; 1024 * 1024];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut chunk = Vec::with_capacity(64 * 1024);
    deflate
        .compress_vec(&zeros, &mut chunk, FlushCompress::Full)
        .expect("deflate runs");
    assert_eq!(
        deflate.total_in(),
        zeros.len() as u64,
        "one call takes it all"
    );
    let mut end = Vec::with_capacity(64);
    deflate
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .expect("deflate finishes");
    let mut crc = Crc::new();
    for _ in 0..mib {
        crc.update(&zeros);
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff];
    for _ in 0..mib {
        out.extend_from_slice(&chunk);
    }
    out.extend_from_slice(&end);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&((mib as u64 * 1024 * 1024) as u32).to_le_bytes());
    out
}

/// `POST /graphql` with a body already encoded as `encoding`.
async fn post_encoded(gw: &support::TestGateway, encoding: &str, body: Vec<u8>) -> Reply {
    send(
        gw.client
            .post(gw.url())
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body),
    )
    .await
}

#[tokio::test]
async fn responses_are_compressed_in_the_encoding_the_client_asks_for() {
    let upstream = items().await;
    let gw = support::gateway(&sdl(""), &[&upstream], &[]).await;

    let plain = query(&gw, BIG, None).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.encoding, None, "nothing asked, nothing compressed");
    let expected = plain.json();
    assert_eq!(
        expected["data"]["items"].as_array().map(Vec::len),
        Some(200)
    );
    assert!(plain.bytes.len() > 8 * 1024, "{}", plain.bytes.len());

    for encoding in ["gzip", "br", "zstd"] {
        let reply = query(&gw, BIG, Some(encoding)).await;
        assert_eq!(reply.status, 200, "{encoding}");
        assert_eq!(reply.encoding.as_deref(), Some(encoding));
        assert!(
            reply.vary.contains(&"accept-encoding".to_owned()),
            "{encoding}"
        );
        assert_eq!(reply.json(), expected, "{encoding}: the same answer");
        assert!(
            reply.bytes.len() * 4 < plain.bytes.len(),
            "{encoding}: {} bytes for {}",
            reply.bytes.len(),
            plain.bytes.len()
        );
    }

    // Preferences are the client's: q-values pick, q=0 refuses, identity
    // asks for nothing.
    for (accept, chosen) in [
        ("gzip;q=0.5, br;q=1.0", Some("br")),
        ("zstd;q=0.2, gzip;q=0.9", Some("gzip")),
        ("br;q=0, zstd", Some("zstd")),
        ("identity", None),
        ("deflate", None),
    ] {
        let reply = query(&gw, BIG, Some(accept)).await;
        assert_eq!(reply.encoding.as_deref(), chosen, "{accept}");
        assert_eq!(reply.json(), expected, "{accept}");
    }
}

#[tokio::test]
async fn responses_below_min_bytes_are_sent_as_they_are() {
    let upstream = items().await;
    let gw = support::gateway(&sdl(""), &[&upstream], &[]).await;
    let small = query(&gw, SMALL, Some("gzip, br, zstd")).await;
    assert_eq!(small.status, 200);
    assert_eq!(small.encoding, None, "{} bytes", small.bytes.len());
    assert_eq!(small.json(), json!({ "data": { "__typename": "Query" } }));

    // The floor is exact: a body of `minBytes` is compressed, one byte
    // shorter is not.
    let size = query(&gw, BIG, None).await.bytes.len();
    let at = support::gateway(
        &sdl(&format!("@server(compression: {{ minBytes: {size} }})")),
        &[&upstream],
        &[],
    )
    .await;
    assert_eq!(
        query(&at, BIG, Some("gzip")).await.encoding.as_deref(),
        Some("gzip")
    );
    let above = support::gateway(
        &sdl(&format!(
            "@server(compression: {{ minBytes: {} }})",
            size + 1
        )),
        &[&upstream],
        &[],
    )
    .await;
    assert_eq!(query(&above, BIG, Some("gzip")).await.encoding, None);
}

#[tokio::test]
async fn compression_can_be_limited_to_some_encodings_or_turned_off() {
    let upstream = items().await;
    let gzip_only = support::gateway(
        &sdl(r#"@server(compression: { encodings: ["gzip"] })"#),
        &[&upstream],
        &[],
    )
    .await;
    assert_eq!(query(&gzip_only, BIG, Some("br")).await.encoding, None);
    assert_eq!(query(&gzip_only, BIG, Some("zstd")).await.encoding, None);
    assert_eq!(
        query(&gzip_only, BIG, Some("br, gzip;q=0.1"))
            .await
            .encoding
            .as_deref(),
        Some("gzip")
    );

    let off = support::gateway(&sdl("@server(compression: false)"), &[&upstream], &[]).await;
    for accept in ["gzip", "br", "zstd"] {
        let reply = query(&off, BIG, Some(accept)).await;
        assert_eq!(reply.encoding, None, "{accept}");
        assert!(!reply.vary.contains(&"accept-encoding".to_owned()));
    }
    // Off means off both ways: a gzip body is refused, not decoded.
    let reply = post_encoded(
        &off,
        "gzip",
        gzip(json!({ "query": SMALL }).to_string().as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.accept_encoding.as_deref(), Some("identity"));
    assert!(
        String::from_utf8_lossy(&reply.bytes).contains("compression.requests is off"),
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

#[tokio::test]
async fn the_other_endpoints_are_compressed_too() {
    let upstream = items().await;
    let gw = support::gateway(&sdl(""), &[&upstream], &[]).await;
    let page = send(
        gw.client
            .get(format!("{}/", gw.running.url()))
            .header("accept", "text/html")
            .header("accept-encoding", "gzip"),
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.encoding.as_deref(), Some("gzip"));
    assert!(String::from_utf8_lossy(&page.decoded()).contains("graphiql"));
}

#[tokio::test]
async fn gzip_request_bodies_are_decoded_and_held_to_max_body_bytes_decoded() {
    let upstream = items().await;
    let gw = support::gateway(&sdl("@server(maxBodyBytes: 2000)"), &[&upstream], &[]).await;

    let body = json!({ "query": BIG }).to_string();
    let reply = post_encoded(&gw, "gzip", gzip(body.as_bytes())).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert_eq!(reply.json()["data"]["items"][199]["id"], "199");

    // 2000 bytes decoded pass; 2001 do not, though compressed they are a
    // few dozen bytes.
    let padded = |len: usize| {
        let bare = json!({ "query": format!("#\n{SMALL}") }).to_string().len();
        let text = json!({ "query": format!("#{}\n{SMALL}", " ".repeat(len - bare)) }).to_string();
        assert_eq!(text.len(), len);
        text
    };
    let at_limit = gzip(padded(2000).as_bytes());
    assert!(at_limit.len() < 200, "{}", at_limit.len());
    let reply = post_encoded(&gw, "gzip", at_limit).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    let reply = post_encoded(&gw, "gzip", gzip(padded(2001).as_bytes())).await;
    assert_eq!(reply.status, 413);
    assert!(
        String::from_utf8_lossy(&reply.bytes).contains("maxBodyBytes"),
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );

    // A bomb: 16 MiB of zeros in 16 KiB (a valid gzip file, checked here).
    let bomb = gzip_of_zeros(16);
    assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
    let mut decoded = 0;
    let mut decoder = flate2::read::GzDecoder::new(&bomb[..]);
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        match decoder.read(&mut buf).expect("the bomb is valid gzip") {
            0 => break,
            n => decoded += n,
        }
    }
    assert_eq!(decoded, 16 * 1024 * 1024);
    let started = Instant::now();
    let reply = post_encoded(&gw, "gzip", bomb).await;
    assert_eq!(reply.status, 413);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Bytes that are not gzip at all: 400, said so.
    let reply = post_encoded(&gw, "gzip", body.clone().into_bytes()).await;
    assert_eq!(
        reply.status,
        400,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
    assert!(
        String::from_utf8_lossy(&reply.bytes).contains("could not be read"),
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );

    // The gateway goes on serving.
    let reply = query(&gw, SMALL, None).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn bodies_in_other_encodings_get_415_with_the_encodings_accepted() {
    let upstream = items().await;
    let gw = support::gateway(&sdl(""), &[&upstream], &[]).await;
    let body = json!({ "query": SMALL }).to_string().into_bytes();
    for encoding in ["br", "zstd", "deflate", "gzip, gzip", "compress"] {
        let reply = post_encoded(&gw, encoding, body.clone()).await;
        assert_eq!(reply.status, 415, "{encoding}");
        assert_eq!(reply.accept_encoding.as_deref(), Some("gzip"), "{encoding}");
        let json = reply.json();
        let message = json["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!("Content-Encoding `{encoding}` are not accepted"))
                && message.contains("gzip"),
            "{encoding}: {json}"
        );
        assert_eq!(json["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    }
    // `identity` is no encoding at all.
    let reply = post_encoded(&gw, "identity", body).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.bytes)
    );
}

// ----------------------------------------------------- the bomb, measured

/// Peak resident memory of process `pid`, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM is reported")
}

/// Sends a POST of `body` over a raw connection and returns the status
/// line's code and the response as text. The gateway answers before it has read the whole body, so
/// writing may fail; the answer is read regardless.
async fn raw_post(addr: &str, headers: &str, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("gateway accepts");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {addr}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        let _ = write.write_all(&body).await;
        write
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(60), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => response.extend_from_slice(&buf[..n]),
        }
    }
    writer.abort();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    (status, text)
}

#[tokio::test]
async fn a_gzip_bomb_gets_413_and_the_process_does_not_grow() {
    let dir = support::fresh_dir("gzip-bomb");
    let schema = dir.join("schema.graphql");
    std::fs::write(
        &schema,
        r#"type Query { hello: String @rest(upstream: "none", path: "/") }
schema @upstream(name: "none", url: "http://127.0.0.1:9") { query: Query }"#,
    )
    .expect("schema written");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tributary"));
    command.args([
        "serve",
        &schema.display().to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let mut process = support::Process::spawn(command, "gzip-bomb-log");
    let url = process.listening_url();
    let addr = url.trim_start_matches("http://").to_owned();
    let pid = process.id();

    // Warm up: the first requests allocate the runtime's and the caches'
    // steady memory.
    tributary::init_tls();
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    for _ in 0..5 {
        let status = client
            .post(format!("{url}/graphql"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(
                json!({ "query": "{ __typename }" }).to_string().as_bytes(),
            ))
            .send()
            .await
            .expect("answers")
            .status();
        assert_eq!(status, 200);
    }
    let before = peak_rss_kib(pid);

    // 256 MiB of zeros in about 260 KiB: far over the default maxBodyBytes
    // (1 MiB) once decoded, well under it as sent.
    let bomb = gzip_of_zeros(256);
    assert!(bomb.len() < 512 * 1024, "{}", bomb.len());
    let started = Instant::now();
    let (status, response) = raw_post(
        &addr,
        "content-type: application/json\r\ncontent-encoding: gzip\r\n",
        bomb,
    )
    .await;
    assert_eq!(status, 413, "{response}\n{}", process.log());
    assert!(response.contains("maxBodyBytes"), "{response}");
    let elapsed = started.elapsed();
    let after = peak_rss_kib(pid);
    let grown_mib = after.saturating_sub(before) / 1024;
    println!("peak RSS {before} KiB -> {after} KiB; 413 after {elapsed:?}");
    // Decoding it whole would take at least 256 MiB.
    assert!(grown_mib < 48, "the process grew by {grown_mib} MiB");
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");

    // And it goes on serving.
    let status = client
        .post(format!("{url}/graphql"))
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .expect("answers")
        .status();
    assert_eq!(status, 200);
    assert_eq!(process.terminate_async().await.code(), Some(0));
}
