//! A WebSocket client nobody here wrote: python3's `websockets` (Debian's
//! python3-websockets, or `pip install websockets`) talks to our server:
//! text, binary, a 4 MiB message, a fragmented message, ping, close.
//! Prints SKIP when no python3 with the module is found.

mod ws_support;

use std::process::Command;

use evloop_http::ws::Config;
use ws_support::TestServer;

const SCRIPT: &str = r#"
import asyncio, sys, websockets

async def main(uri):
    async with websockets.connect(uri, max_size=None) as ws:
        await ws.send("héllo ✓")
        assert await ws.recv() == "héllo ✓"
        await ws.send(b"\x00\x01\xff")
        assert await ws.recv() == b"\x00\x01\xff"
        big = bytes(range(256)) * 16384
        await ws.send(big)
        assert await ws.recv() == big
        await ws.send(["frag", "mented ", "text"])
        assert await ws.recv() == "fragmented text"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(1000, "done")
    print("OK", ws.close_code)

asyncio.run(main(sys.argv[1]))
"#;

/// The first python3 that has the module (pyenv's may not, Debian's may).
fn python_with_websockets() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import websockets"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn python_websockets_client_echo() {
    let Some(py) = python_with_websockets() else {
        println!(
            "SKIP: no python3 with the websockets module (apt-get install python3-websockets)"
        );
        return;
    };
    let server = TestServer::start(Config::default());
    let uri = format!("ws://{}/ws", server.addr);
    let out = Command::new(py)
        .args(["-c", SCRIPT, &uri])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "OK 1000");
    assert_eq!(server.stop(), ["1000 \"done\" true"]);
}
