//! Compression at the front door, from `@server(compression: ...)`:
//! responses encoded as the client's `Accept-Encoding` asks (gzip, br,
//! zstd) once they reach `minBytes`, and `Content-Encoding: gzip` request
//! bodies decoded as they stream in. The decoded size is what the GraphQL
//! handler holds to `maxBodyBytes`; an encoding not decoded here reaches
//! the handler as it came, and the handler answers 415.

use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::decompression::RequestDecompressionLayer;

use crate::config::CompressionSettings;

/// The response compression layer, if any encoding is offered.
pub(super) fn responses(
    settings: &CompressionSettings,
) -> Option<CompressionLayer<impl Predicate + use<>>> {
    if !settings.responses() {
        return None;
    }
    // tower-http's default predicate with our size floor (a body of at
    // least `minBytes`): gRPC, images and event streams are never compressed.
    let when = SizeAbove::new(settings.min_bytes)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE);
    Some(
        CompressionLayer::new()
            .gzip(settings.gzip)
            .br(settings.br)
            .zstd(settings.zstd)
            .compress_when(when),
    )
}

/// The request decompression layer, if gzip bodies are accepted.
pub(super) fn requests(settings: &CompressionSettings) -> Option<RequestDecompressionLayer> {
    settings.requests.then(|| {
        RequestDecompressionLayer::new()
            .gzip(true)
            // Anything else goes on to the handler, which refuses it with
            // a GraphQL error (tower-http's own 415 has no body).
            .pass_through_unaccepted(true)
    })
}
