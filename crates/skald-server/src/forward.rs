//! Any node answers any request: what another node owns is forwarded to it.
//!
//! A saga execution's shard and a consumer group each run on one node of a cluster (the holder of
//! their lease, skald-cluster). A handler on another node answers `503 not-owner` naming the owner;
//! this layer sees that answer ([`ForwardTo`] in the response's extensions), sends the same
//! request to the owner once, and returns the owner's answer instead. Task tokens and activity
//! tasks live in the memory of the node that issued them, so their routes name every other live
//! node, which are asked in turn until one knows the token.
//!
//! A forwarded request carries [`FORWARDED_HEADER`] and is never forwarded again: if the owner
//! changed meanwhile, the caller gets the `not-owner` problem with `Retry-After` and tries again.
//! Bodies are buffered to be sent twice; they are bounded by the server's body limit.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use skald_core::limits::REQUEST_BODY_BYTES_MAX;

use crate::problem::Problem;

/// Set on a forwarded request (to the forwarding node's id): it is answered where it lands.
pub const FORWARDED_HEADER: &str = "skald-forwarded-by";
/// How long a forwarded request may take: a group lease and an activity poll wait up to 60 s.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// Nodes to send the request to instead, in order: the first answer that is not `404` wins.
#[derive(Clone, Debug, Default)]
pub struct ForwardTo(pub Vec<String>);

/// Sends requests on to other nodes.
#[derive(Clone)]
pub struct Forwarder {
    client: reqwest::Client,
    node: HeaderValue,
}

impl Forwarder {
    /// A forwarder for node `node` (its id goes into [`FORWARDED_HEADER`]).
    pub fn new(node: &str) -> Result<Forwarder, crate::ServerError> {
        let client = reqwest::Client::builder()
            .timeout(FORWARD_TIMEOUT)
            .build()
            .map_err(|e| crate::ServerError::Io(std::io::Error::other(e)))?;
        let node = HeaderValue::from_str(node).unwrap_or_else(|_| HeaderValue::from_static("unnamed"));
        Ok(Forwarder { client, node })
    }

    /// Sends one request to `address` (`http://host:port`) and streams its answer back.
    pub async fn send(
        &self,
        address: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response, reqwest::Error> {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self.client.request(method.clone(), format!("{}{path}", address.trim_end_matches('/')));
        for (name, value) in headers {
            if !is_hop_by_hop(name) {
                request = request.header(name, value);
            }
        }
        let answer = request.header(FORWARDED_HEADER, self.node.clone()).body(body).send().await?;
        let mut response = Response::builder().status(answer.status());
        for (name, value) in answer.headers() {
            if !is_hop_by_hop(name) {
                response = response.header(name, value);
            }
        }
        let body = Body::from_stream(answer.bytes_stream());
        Ok(response
            .body(body)
            .unwrap_or_else(|_| Problem::forward_failed(address, "a malformed answer").into_response()))
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(name.as_str(), "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive")
}

/// The layer: runs the handler, and forwards when its answer names other nodes.
pub async fn layer(State(forwarder): State<Option<Forwarder>>, request: Request, next: Next) -> Response {
    let Some(forwarder) = forwarder else { return next.run(request).await };
    if request.headers().contains_key(FORWARDED_HEADER) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method.clone(), parts.uri.clone(), parts.headers.clone());
    let bytes = match axum::body::to_bytes(body, REQUEST_BODY_BYTES_MAX).await {
        Ok(bytes) => bytes,
        Err(_) => return Problem::body_too_large(REQUEST_BODY_BYTES_MAX, None).into_response(),
    };
    let response = next.run(Request::from_parts(parts, Body::from(bytes.clone()))).await;
    let Some(ForwardTo(addresses)) = response.extensions().get::<ForwardTo>().cloned() else { return response };
    for address in addresses {
        match forwarder.send(&address, &method, &uri, &headers, bytes.clone()).await {
            Ok(answer) if answer.status() == axum::http::StatusCode::NOT_FOUND => continue,
            Ok(answer) => return answer,
            Err(error) => tracing::warn!(%address, %error, "forwarding to the owner failed"),
        }
    }
    response
}
