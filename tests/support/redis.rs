//! A real `redis-server` on a free port of 127.0.0.1, killed on drop, for the
//! tests that share state through Redis (the cache tier, persisted queries,
//! shared rate limits).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A `redis-server` child process on 127.0.0.1, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    /// Starts one on a port that was free a moment ago.
    pub async fn start() -> Redis {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound address").port();
        drop(listener);
        Redis::start_on(port).await
    }

    /// Starts one on `port`, without persistence, and waits for its PONG.
    pub async fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): run scripts/test-deps.sh (as root) once \
                     to install it"
                )
            });
        let redis = Redis {
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.command(&["PING"]).await.as_deref() != Some("+PONG\r\n") {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {port} did not answer PING within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes with it: nothing is persisted).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay open, nothing is
    /// answered, the way an overloaded Redis looks. `thaw` resumes it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} redis-server");
    }

    /// Sends one command in RESP and returns the raw reply; `None` when the
    /// server cannot be reached.
    pub async fn command(&self, args: &[&str]) -> Option<String> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()?;
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut reply = vec![0; 64 * 1024];
            let n = stream.read(&mut reply).await.ok()?;
            (n > 0).then(|| String::from_utf8_lossy(&reply[..n]).into_owned())
        };
        tokio::time::timeout(Duration::from_secs(1), exchange)
            .await
            .ok()
            .flatten()
    }

    /// How many keys the server holds.
    pub async fn dbsize(&self) -> u64 {
        let reply = self
            .command(&["DBSIZE"])
            .await
            .expect("redis answers DBSIZE");
        reply
            .trim()
            .trim_start_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("not a DBSIZE reply: {reply:?}"))
    }

    /// Waits until the server holds more than `keys` keys (cache writes go
    /// to Redis in the background); false after `within`.
    pub async fn grows_past(&self, keys: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.dbsize().await > keys {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    /// The raw value of the one key the server holds.
    pub async fn only_value(&self) -> String {
        let keys = self
            .command(&["KEYS", "*"])
            .await
            .expect("redis answers KEYS");
        let lines: Vec<&str> = keys.lines().collect();
        assert_eq!(lines.len(), 3, "exactly one key: {keys:?}");
        self.command(&["GET", lines[2]])
            .await
            .expect("redis answers GET")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
