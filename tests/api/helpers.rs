//! Starts the real `handler` binary the way the Functions host does (port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, readiness by polling `GET /`) and talks to it over loopback.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

pub const USERNAME: &str = "gate-user";
/// Contains a colon on purpose: the pair is split at the first one.
pub const PASSWORD: &str = "s3cret:with:colons";
/// Logs what the server logs, and a line for each sign-up record written (what a test waits for
/// before it reads the record).
pub const RECORDS: &str = "info,signup_gate::gate::recorder=debug";
/// How long any start-up may take before a test gives up.
const START_DEADLINE: Duration = Duration::from_secs(20);

pub fn handler_binary() -> &'static str {
    env!("CARGO_BIN_EXE_handler")
}

/// Settings every test starts from: Basic credentials, info logs, and no caller check on the
/// Entra functions (the token tests switch it on).
pub fn base_env() -> Vec<(String, String)> {
    [
        ("BASIC_AUTH_USERNAME", USERNAME),
        ("BASIC_AUTH_PASSWORD", PASSWORD),
        ("RUST_LOG", "info"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What the child printed, collected by background threads that say when a line arrives.
#[derive(Clone, Default)]
pub struct Output {
    shared: Arc<Printed>,
}

#[derive(Default)]
struct Printed {
    stdout: Mutex<String>,
    stderr: Mutex<String>,
    /// Pipes still open (a reader ends when the child's end of its pipe closes).
    open: std::sync::atomic::AtomicUsize,
    /// Told of every line and of every pipe that closes.
    changed: tokio::sync::Notify,
    /// The threads reading the child's pipes.
    readers: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Output {
    fn capture(child: &mut Child) -> Self {
        let output = Self::default();
        let mut readers = Vec::new();
        if let Some(stream) = child.stdout.take() {
            readers.push(output.collect(stream, Stream::Stdout));
        }
        if let Some(stream) = child.stderr.take() {
            readers.push(output.collect(stream, Stream::Stderr));
        }
        *output.shared.readers.lock().unwrap() = readers;
        output
    }

    fn collect(&self, stream: impl Read + Send + 'static, which: Stream) -> thread::JoinHandle<()> {
        use std::sync::atomic::Ordering;
        let shared = self.shared.clone();
        shared.open.fetch_add(1, Ordering::SeqCst);
        thread::spawn(move || {
            let into = match which {
                Stream::Stdout => &shared.stdout,
                Stream::Stderr => &shared.stderr,
            };
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut text = into.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
                drop(text);
                shared.changed.notify_waiters();
            }
            shared.open.fetch_sub(1, Ordering::SeqCst);
            shared.changed.notify_waiters();
        })
    }

    /// Waits until everything the child wrote has been read: for a child that has exited, whose
    /// pipes are then closed (unless it left a process behind that holds them).
    fn finish(&self) {
        let readers = std::mem::take(&mut *self.shared.readers.lock().unwrap());
        for reader in readers {
            let _ = reader.join();
        }
    }

    /// Whether both pipes are closed (the child has exited, or is exiting).
    fn closed(&self) -> bool {
        self.shared.open.load(std::sync::atomic::Ordering::SeqCst) == 0
    }

    /// Waits (at most `bound`) until `done` holds for everything printed so far, woken by each
    /// line; `None` when the pipes closed or the bound passed first.
    async fn wait<T>(&self, bound: Duration, done: impl Fn(&str) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(found) = done(&self.all()) {
                return Some(found);
            }
            if self.closed() {
                return None;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&self.all());
            }
        }
    }

    pub fn stdout(&self) -> String {
        self.shared.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.shared.stderr.lock().unwrap().clone()
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// How to start the binary.
pub struct Launch {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub dir: PathBuf,
    /// Keeps a temporary working directory alive as long as the process.
    _temp: Option<tempfile::TempDir>,
}

impl Launch {
    /// As the Functions host would, in an empty working directory; the port variable is 0, so
    /// the handler binds a port the system chooses and names it on its `listening on` line (no
    /// test races another for a port).
    pub fn hosted(extra: &[(&str, &str)]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut launch = Self {
            env: base_env(),
            args: Vec::new(),
            dir: temp.path().to_owned(),
            _temp: Some(temp),
        };
        launch.set("FUNCTIONS_CUSTOMHANDLER_PORT", "0");
        for (name, value) in extra {
            launch.set(name, value);
        }
        launch
    }

    /// As a person would: no port variable, run from `dir`.
    pub fn standalone(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        Self {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: dir.to_owned(),
            _temp: None,
        }
    }

    /// Writes the default invitation file (`invitations.csv`) into the working directory.
    pub fn invitations(mut self, csv: &str) -> Self {
        std::fs::write(self.dir.join("invitations.csv"), csv).unwrap();
        self.set("INVITATIONS_FILE", "invitations.csv");
        self
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_owned(), value.to_owned()));
    }

    fn command(&self) -> Command {
        let mut command = Command::new(handler_binary());
        command
            .env_clear()
            .envs(self.env.iter().cloned())
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Starts the process and waits until it is ready: its own `listening on` line names the
    /// port it bound (so whatever answers there is this process), and `GET /` answers 200 there,
    /// as the host checks.
    pub async fn start(self) -> TestApp {
        self.try_start().await.unwrap_or_else(|(status, output)| {
            panic!(
                "handler exited with {status} before it was ready:\n{}",
                output.all()
            )
        })
    }

    /// The same; a process that exits before it is ready gives its status and output.
    pub async fn try_start(self) -> Result<TestApp, (ExitStatus, Output)> {
        let app = self.until_listening().await?;
        let ready = app
            .client
            .get(app.url("/"))
            .timeout(START_DEADLINE)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET / failed: {error}\n{}", app.output.all()));
        assert_eq!(ready.status().as_u16(), 200, "GET / of a ready handler");
        Ok(app)
    }

    /// Starts the process and returns as soon as its `listening on` line names the port,
    /// before anything is sent to it (what a host that polls at once would meet).
    pub async fn until_listening(self) -> Result<TestApp, (ExitStatus, Output)> {
        install_tls_provider();
        // Everything that could panic comes before the spawn or after the process is owned by
        // a TestApp (which kills it when dropped), so a failing test leaves no process behind.
        // Every request a test makes is bounded: a server that never answers fails the test.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        let mut child = self.command().spawn().expect("handler starts");
        let output = Output::capture(&mut child);
        let mut app = TestApp {
            port: 0,
            child,
            output,
            client,
            _launch: self,
        };
        let Some(port) = app.output.wait(START_DEADLINE, listening_port).await else {
            if app.output.closed() {
                let status = app.wait_for_exit();
                return Err((status, app.output.clone()));
            }
            panic!("handler not ready in time:\n{}", app.output.all());
        };
        app.port = port;
        Ok(app)
    }

    /// Runs the process until it exits by itself (bounded), for start-up failures.
    pub fn run_to_exit(self) -> (ExitStatus, Output) {
        let mut child = self.command().spawn().expect("handler starts");
        let output = Output::capture(&mut child);
        let status = wait_with_deadline(&mut child, START_DEADLINE)
            .unwrap_or_else(|| panic!("handler did not exit:\n{}", output.all()));
        output.finish();
        (status, output)
    }
}

/// The port of the handler's `listening on http://127.0.0.1:PORT ...` line, printed once it
/// holds the port.
fn listening_port(logs: &str) -> Option<u16> {
    let rest = logs.split("listening on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    None
}

/// reqwest is built with rustls and no default crypto provider; the tests' clients speak plain
/// HTTP but still need one installed.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A loopback port that refuses every connection for as long as this value lives: bound
/// (without `SO_REUSEADDR`, so nobody else can take it) but not listening. For "nothing
/// answers there" without racing another test for a port that was free a moment ago.
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("a loopback port");
        let port = socket.local_addr().unwrap().port();
        Self {
            _socket: socket,
            port,
        }
    }
}

/// A running handler; killed when dropped.
pub struct TestApp {
    pub port: u16,
    child: Child,
    pub output: Output,
    pub client: reqwest::Client,
    _launch: Launch,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `POST /api/SignUpValidation` with the test credentials.
    pub async fn sign_up(&self, body: &str) -> reqwest::Response {
        self.post(
            "/api/SignUpValidation",
            body,
            Some(&basic(USERNAME, PASSWORD)),
        )
        .await
    }

    pub async fn post(
        &self,
        path: &str,
        body: &str,
        authorization: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        request.send().await.expect("request answered")
    }

    /// Posts an event (no credentials) and returns status, content type and JSON body.
    pub async fn event(
        &self,
        function: &str,
        body: &serde_json::Value,
    ) -> (u16, String, serde_json::Value) {
        json_answer(
            self.post(&format!("/api/{function}"), &body.to_string(), None)
                .await,
        )
        .await
    }

    /// Posts an event until its answer's body passes `done` (at most 10 s), for changes the
    /// server picks up by itself; returns that body.
    pub async fn event_until(
        &self,
        function: &str,
        body: &serde_json::Value,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (_, _, answer) = self.event(function, body).await;
            if done(&answer) {
                return answer;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{function} still answers {answer} to {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The function app root the process runs in.
    pub fn dir(&self) -> &Path {
        &self._launch.dir
    }

    /// Runs `handler ARGS` as a CLI command in the app's directory with the app's settings.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with(args, &[])
    }

    /// The same, with these settings besides (or instead).
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut command = self._launch.command();
        command
            .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .args(args);
        command.output().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory the process has held so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"))
    }

    /// The signals the process catches (`SigCgt` of `/proc/<pid>/status`), as signal numbers.
    pub fn caught_signals(&self) -> Vec<u32> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let mask = status
            .lines()
            .find_map(|line| line.strip_prefix("SigCgt:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .expect("SigCgt in /proc/<pid>/status");
        (1..=64)
            .filter(|signal| mask & (1 << (signal - 1)) != 0)
            .collect()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends a signal to the process (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit by itself, and for what it wrote to be read.
    pub fn wait_for_exit(&mut self) -> ExitStatus {
        let status = wait_with_deadline(&mut self.child, START_DEADLINE)
            .unwrap_or_else(|| panic!("handler did not exit:\n{}", self.output.all()));
        self.output.finish();
        status
    }

    /// Waits (bounded) until the logs contain `needle`, and returns them.
    pub async fn logs_containing(&self, needle: &str) -> String {
        self.logs_containing_all(&[needle]).await
    }

    /// Waits (bounded) until the logs contain every one of `needles`, and returns them: lines
    /// go to two pipes (information to stdout, in batches; warnings and errors to stderr at
    /// once), so one line having arrived says nothing of another.
    pub async fn logs_containing_all(&self, needles: &[&str]) -> String {
        self.logs_containing_within(needles, Duration::from_secs(10))
            .await
    }

    /// Waits (bounded) until the logs contain `needle` at least `times` times (one line per
    /// request, say), and returns them.
    pub async fn logs_containing_times(&self, needle: &str, times: usize) -> String {
        let enough = |logs: &str| (logs.matches(needle).count() >= times).then(|| logs.to_owned());
        self.output
            .wait(Duration::from_secs(10), enough)
            .await
            .unwrap_or_else(|| {
                let logs = self.output.all();
                panic!(
                    "{needle:?} {} time(s) in the logs, not {times}:\n{logs}",
                    logs.matches(needle).count()
                )
            })
    }

    /// The same, waiting at most `bound` (for what the handler does after a timeout of its own).
    pub async fn logs_containing_within(&self, needles: &[&str], bound: Duration) -> String {
        let all = |logs: &str| {
            needles
                .iter()
                .all(|needle| logs.contains(needle))
                .then(|| logs.to_owned())
        };
        self.output.wait(bound, all).await.unwrap_or_else(|| {
            panic!(
                "no log line with each of {needles:?}:\n{}",
                self.output.all()
            )
        })
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs the debug line that says the server has read this request's head and waits for its body.
pub const IN_FLIGHT: &str = "info,signup_gate::server=debug";

/// Sends the head and part of the body of a sign-up with the invocation id `id`, and waits
/// until the server is reading its body: a request in flight.
pub async fn request_in_flight(app: &TestApp, id: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/SignUpValidation HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nX-Azure-Functions-InvocationId: {id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        basic(USERNAME, PASSWORD),
        IN_FLIGHT_BODY.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&IN_FLIGHT_BODY[..5]).await.unwrap();
    app.logs_containing(&format!(
        "SignUpValidation: caller accepted, reading the body; correlation_id={id}"
    ))
    .await;
    stream
}

/// The body [`request_in_flight`] sends.
pub const IN_FLIGHT_BODY: &[u8] = br#"{"email":"ada@fabrikam.com"}"#;

/// `text` with every invitation id (`inv_` and 16 characters, random where the CLI made them)
/// written `inv_*`, for comparing output that names them.
pub fn without_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("inv_") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 4..];
        let id_chars = after
            .bytes()
            .take(16)
            .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        if id_chars == 16 {
            out.push_str("inv_*");
            rest = &after[16..];
        } else {
            out.push_str("inv_");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The id the product derives for an invitation written without one (a file row, a table
/// entity from before ids).
pub fn derived_id(key: &str) -> String {
    signup_gate::domain::invitation::InvitationId::derived(key).to_string()
}

pub fn basic(username: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Status, content type and parsed JSON body of an answer.
pub async fn json_answer(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, content_type, json)
}

/// The emulator's well-known account key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's table service on a free loopback port with a temporary data folder; stopped when
/// dropped. Installed by `npm ci` (the README's test command runs it).
pub struct Azurite {
    child: Option<Child>,
    pub port: u16,
    _data: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite on a port the system chooses (Azurite does not print which: it is read
    /// from the listening sockets the process holds, once it says it has started).
    pub async fn start() -> Self {
        let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/azurite-table");
        assert!(
            binary.exists(),
            "{} is missing: run `npm ci` in the repository (bash scripts/test.sh does)",
            binary.display()
        );
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(&binary)
            .args([
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                "0",
                "--disableTelemetry",
                "--location",
            ])
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("azurite starts");
        // Read both pipes to the end, so that neither fills.
        let output = Output::capture(&mut child);
        let mut azurite = Self {
            child: Some(child),
            port: 0,
            _data: data,
        };
        let started = output
            .wait(START_DEADLINE, |logs| {
                logs.contains("Table service successfully started")
                    .then_some(())
            })
            .await;
        let pid = azurite.child.as_ref().unwrap().id();
        assert!(
            started.is_some(),
            "azurite did not start:\n{}",
            output.all()
        );
        azurite.port = listening_ports(pid)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("azurite ({pid}) listens nowhere:\n{}", output.all()));
        azurite
    }

    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};TableEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.port
        )
    }

    /// Stops the emulator (the store goes down mid-test).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The loopback TCP ports process `pid` listens on (Linux: its socket descriptors matched
/// against `/proc/<pid>/net/tcp`).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().into_owned();
                    Some(
                        target
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')?
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address rem_address st ... inode (the tenth field)
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            let (address, port) = local.split_once(':')?;
            (*state == "0A" && address == "0100007F" && inodes.iter().any(|i| i == inode))
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
