//! A stub HTTP/1.1 server on 127.0.0.1 for the handler's tests: it records every request
//! (method, target, headers, body, when it arrived) and answers each as the test says, or never.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The path with its query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub arrived: SystemTime,
}

/// How to answer a request.
pub enum Reply {
    Answer {
        status: u16,
        body: Vec<u8>,
    },
    /// Keep the connection open and never answer.
    Never,
}

impl Reply {
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::Answer {
            status,
            body: serde_json::to_vec(body).unwrap(),
        }
    }
}

type Answerer = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// The running server.
pub struct Stub {
    pub base: String,
    seen: Arc<Mutex<Vec<Recorded>>>,
}

impl Stub {
    /// Starts a server that answers with `answer`.
    pub async fn start(answer: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answerer> = Arc::new(answer);
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, answer.clone(), log.clone()));
            }
        });
        Stub { base, seen }
    }

    /// The requests seen so far whose target starts with `prefix`.
    pub fn requests(&self, prefix: &str) -> Vec<Recorded> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|r| r.target.starts_with(prefix))
            .cloned()
            .collect()
    }
}

async fn serve(mut socket: TcpStream, answer: Arc<Answerer>, log: Arc<Mutex<Vec<Recorded>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let recorded = Recorded {
        method,
        target,
        headers,
        body: buffer[head_end..head_end + length].to_vec(),
        arrived: SystemTime::now(),
    };
    let reply = answer(&recorded);
    log.lock().unwrap().push(recorded);
    match reply {
        Reply::Never => {
            // Hold the connection until the client gives up.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Answer { status, body } => {
            let head = format!(
                "HTTP/1.1 {status} Stub\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            let _ = socket.shutdown().await;
        }
    }
}
