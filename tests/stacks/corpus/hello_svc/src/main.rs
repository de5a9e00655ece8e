//! hello_svc: a hyper/tokio HTTP server on 127.0.0.1 (an ephemeral port) whose handler does some
//! CPU work in `render_page`, several async frames down. Prints "ready <pid> <port>".
use std::convert::Infallible;

use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Request, Response, Server};

#[inline(never)]
fn render_page(path: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for i in 0..200_000u64 {
        h = (h ^ i ^ path.len() as u64).wrapping_mul(1099511628211);
    }
    format!("hello {} {:x}\n", path, h)
}

async fn lookup_route(path: String) -> String {
    tokio::task::yield_now().await;
    render_page(&path)
}

async fn handle(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let page = lookup_route(req.uri().path().to_string()).await;
    Ok(Response::new(Body::from(page)))
}

#[tokio::main]
async fn main() {
    let addr = ([127, 0, 0, 1], 0).into();
    let make = make_service_fn(|_| async { Ok::<_, Infallible>(service_fn(handle)) });
    let server = Server::bind(&addr).serve(make);
    println!("ready {} {}", std::process::id(), server.local_addr().port());
    server.await.unwrap();
}
