//! `ws::connect_url`: a WebSocket through the HTTP client (host names,
//! extra headers, refusals).

mod client_util;

use client_util::{run_until, setup};
use evloop_http::client::{ClientError, ClientOptions};
use evloop_http::server::{Router, ServerExt};
use evloop_http::ws::{
    self, ClientHandshakeError, CloseCode, Config, ConnectError, Message, WebSocketExt,
};
use http::{HeaderMap, Method};

#[derive(Default)]
struct St {
    got: Vec<String>,
    failed: Option<String>,
}

fn router() -> Router<St> {
    let mut r: Router<St> = Router::new();
    r.exact(
        "/echo",
        &[Method::GET],
        ws::handler(Config::default(), |ctx, _, id, req| {
            let cookie = req.headers()["cookie"].to_str().unwrap().to_string();
            let mut ws = ctx.websocket(id).unwrap();
            ws.send_text(&format!("cookie {cookie}")).unwrap();
            ws.on_message(|ctx, _, id, msg| {
                if let Message::Text(t) = msg {
                    ctx.websocket(id).unwrap().send_text(&t).unwrap();
                }
            });
        }),
    );
    r
}

#[test]
fn connect_by_host_name_with_headers() {
    let (mut lp, server, addr, _) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let mut headers = HeaderMap::new();
    headers.insert("cookie", "id=42".parse().unwrap());
    let url = format!("ws://localhost:{}/echo?x=1", addr.port());
    ws::connect_url(
        &mut ctx,
        &url,
        headers,
        Config::default(),
        move |ctx, _, res| {
            let mut ws = ctx.websocket(res.unwrap()).unwrap();
            ws.send_text("hello").unwrap();
            ws.on_message(move |ctx, st: &mut St, id, msg| {
                if let Message::Text(t) = msg {
                    st.got.push(t);
                    if st.got.len() == 2 {
                        ctx.websocket(id)
                            .unwrap()
                            .close(CloseCode::NORMAL, "")
                            .unwrap();
                        ctx.server(server).unwrap().shutdown(|_, _| {});
                    }
                }
            });
        },
    )
    .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.got.len() == 2);
    assert_eq!(st.got, ["cookie id=42", "hello"]);
}

#[test]
fn refusals() {
    let (mut lp, _, addr, _) = setup(router(), ClientOptions::new());
    let mut ctx = lp.ctx();
    let url = format!("ws://{addr}/nowhere");
    ws::connect_url(
        &mut ctx,
        &url,
        HeaderMap::new(),
        Config::default(),
        |_, st: &mut St, res| {
            st.failed = Some(match res {
                Err(ConnectError::Handshake(ClientHandshakeError::Status(s))) => s.to_string(),
                other => format!("{other:?}"),
            });
        },
    )
    .unwrap();
    let mut st = St::default();
    run_until(&mut lp, &mut st, |s| s.failed.is_some());
    assert_eq!(st.failed.as_deref(), Some("404"));

    let err = ws::connect_url(
        &mut lp.ctx(),
        "wss://example.org/",
        HeaderMap::new(),
        Config::default(),
        |_, _: &mut St, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, ConnectError::Client(ClientError::UnsupportedScheme(s)) if s == "wss"));
}
