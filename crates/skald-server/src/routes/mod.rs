//! The route table: every route is added through [`Routes`], which records `(method, path)` so that
//! tests can check the table against the OpenAPI document and against what the router serves.

pub(crate) mod appends;
pub(crate) mod groups;
pub(crate) mod reads;
pub(crate) mod sagas;
pub(crate) mod streams;
pub(crate) mod system;

use axum::extract::Request;
use axum::handler::Handler;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

use crate::problem::Problem;
use crate::sse;
use crate::state::AppState;

/// A router under construction plus the list of what it serves.
pub(crate) struct Routes {
    pub router: Router<AppState>,
    pub table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<AppState>) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, route);
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, get(handler))
    }

    fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, post(handler))
    }

    fn put<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("PUT", path, put(handler))
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("DELETE", path, delete(handler))
    }
}

/// Every route of the API. Paths use axum's `{param}` syntax, which is also OpenAPI's.
pub(crate) fn routes() -> Routes {
    Routes { router: Router::new(), table: Vec::new() }
        .post("/v1/streams", appends::append_multi)
        .get("/v1/streams", streams::list)
        .post("/v1/streams/{stream}", appends::append_stream)
        .get("/v1/streams/{stream}", reads::read_stream)
        .delete("/v1/streams/{stream}", streams::delete)
        .get("/v1/streams/{stream}/metadata", streams::get_metadata)
        .put("/v1/streams/{stream}/metadata", streams::set_metadata)
        .get("/v1/streams/{stream}/live", sse::live_stream)
        .get("/v1/all", reads::read_all)
        .get("/v1/all/live", sse::live_all)
        .get("/v1/categories/{category}", reads::read_category)
        .get("/v1/categories/{category}/live", sse::live_category)
        .get("/v1/types/{type}", reads::read_type)
        .get("/v1/types/{type}/live", sse::live_type)
        .get("/v1/openapi.json", system::openapi)
        .get("/v1/cluster", system::cluster)
        .get("/health", system::health)
        .get("/metrics", system::metrics)
}

/// `404 route-not-found` for everything unrouted.
pub(crate) async fn not_found(request: Request) -> Problem {
    Problem::route_not_found(request.method().as_str(), request.uri().path())
}

/// `405 method-not-allowed` for a known path with another method.
pub(crate) async fn method_not_allowed(request: Request) -> Problem {
    Problem::method_not_allowed(request.method().as_str(), request.uri().path())
}
