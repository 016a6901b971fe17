//! Starts the real `handler` binary the way the Functions host does (port in
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, readiness by polling `GET /`) and talks to it over loopback.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const USERNAME: &str = "gate-user";
/// Contains a colon on purpose: the pair is split at the first one.
pub const PASSWORD: &str = "s3cret:with:colons";
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

/// What the child printed, collected by background threads.
#[derive(Clone, Default)]
pub struct Output {
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The threads reading the child's pipes; each ends when the child's end of its pipe closes.
    readers: Arc<Mutex<Vec<thread::JoinHandle<()>>>>,
}

impl Output {
    fn capture(child: &mut Child) -> Self {
        let output = Self::default();
        let mut readers = Vec::new();
        if let Some(stream) = child.stdout.take() {
            readers.push(collect(stream, output.stdout.clone()));
        }
        if let Some(stream) = child.stderr.take() {
            readers.push(collect(stream, output.stderr.clone()));
        }
        *output.readers.lock().unwrap() = readers;
        output
    }

    /// Waits until everything the child wrote has been read: for a child that has exited, whose
    /// pipes are then closed (unless it left a process behind that holds them).
    fn finish(&self) {
        let readers = std::mem::take(&mut *self.readers.lock().unwrap());
        for reader in readers {
            let _ = reader.join();
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    })
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
    /// As the Functions host would: an empty working directory, a free port in the environment.
    pub fn hosted(extra: &[(&str, &str)]) -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut launch = Self {
            env: base_env(),
            args: Vec::new(),
            dir: temp.path().to_owned(),
            _temp: Some(temp),
        };
        launch.set("FUNCTIONS_CUSTOMHANDLER_PORT", &free_port().to_string());
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

    fn port_variable(&self) -> Option<u16> {
        self.env
            .iter()
            .find(|(k, _)| k == "FUNCTIONS_CUSTOMHANDLER_PORT")
            .and_then(|(_, v)| v.parse().ok())
    }

    /// Starts the process and waits until `GET /` is answered, as the host does.
    ///
    /// The host's port is chosen here while the handler binds it later, so another test can
    /// take it in between: a handler that exits because its port is in use is started again on
    /// another one (at most a few times).
    pub async fn start(mut self) -> TestApp {
        for _ in 0..PORT_ATTEMPTS {
            match self.try_start().await {
                Ok(app) => return app,
                Err(launch) => {
                    self = launch;
                    let port = free_port().to_string();
                    self.set("FUNCTIONS_CUSTOMHANDLER_PORT", &port);
                }
            }
        }
        panic!("no free port for the handler after {PORT_ATTEMPTS} attempts");
    }

    /// Starts the process; gives the launch back when its port turned out to be taken.
    async fn try_start(self) -> Result<TestApp, Launch> {
        install_tls_provider();
        // Everything that could panic comes before the spawn or after the process is owned by
        // a TestApp (which kills it when dropped), so a failing test leaves no process behind.
        let client = reqwest::Client::new();
        let port = self.port_variable().unwrap_or(0);
        let mut child = self.command().spawn().expect("handler starts");
        let output = Output::capture(&mut child);
        let started = Instant::now();
        let mut app = TestApp {
            port,
            child,
            output,
            client,
            _launch: self,
        };
        loop {
            if let Some(status) = app.child.try_wait().unwrap() {
                app.output.finish();
                if app.port != 0 && app.output.stderr().contains("is already in use") {
                    return Err(app.into_launch());
                }
                panic!(
                    "handler exited with {status} before it was ready:\n{}",
                    app.output.all()
                );
            }
            if app.port == 0 {
                app.port = announced_port(&app.output.stdout()).unwrap_or(0);
            }
            let ready = app
                .client
                .get(app.url("/"))
                .timeout(Duration::from_secs(1))
                .send();
            if app.port != 0 && ready.await.is_ok() {
                return Ok(app);
            }
            assert!(
                started.elapsed() < START_DEADLINE,
                "handler not ready in time:\n{}",
                app.output.all()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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

/// The port in the URL a standalone run prints (`... http://localhost:PORT/api/...`).
fn announced_port(stdout: &str) -> Option<u16> {
    let rest = stdout.split("http://localhost:").nth(1)?;
    rest.split('/').next()?.parse().ok()
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

/// How often a launch whose port was taken meanwhile is tried on another one.
const PORT_ATTEMPTS: usize = 5;

/// A port that was free a moment ago (see [`Launch::start`] for what happens when it is not).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    /// The launch of a process that already exited.
    fn into_launch(mut self) -> Launch {
        let _ = self.child.wait();
        std::mem::replace(
            &mut self._launch,
            Launch {
                env: Vec::new(),
                args: Vec::new(),
                dir: PathBuf::new(),
                _temp: None,
            },
        )
    }

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

    /// Sends raw bytes and returns the raw answer (for requests reqwest will not make).
    pub async fn raw(&self, request: &[u8]) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
            .await
            .expect("answer in time")
            .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
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
        self.logs_containing_within(needle, Duration::from_secs(5))
            .await
    }

    /// The same, waiting at most `bound` (for what the handler does after a timeout of its own).
    pub async fn logs_containing_within(&self, needle: &str, bound: Duration) -> String {
        let started = Instant::now();
        loop {
            let logs = self.output.all();
            if logs.contains(needle) {
                return logs;
            }
            assert!(
                started.elapsed() < bound,
                "no log line with {needle:?}:\n{logs}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    /// Starts Azurite on a free port (another one when the port was taken meanwhile).
    pub fn start() -> Self {
        for _ in 0..PORT_ATTEMPTS {
            if let Some(azurite) = Self::try_start() {
                return azurite;
            }
        }
        panic!("no free port for Azurite after {PORT_ATTEMPTS} attempts");
    }

    fn try_start() -> Option<Self> {
        let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/azurite-table");
        assert!(
            binary.exists(),
            "{} is missing: run `npm ci` in the repository (bash scripts/test.sh does)",
            binary.display()
        );
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new(&binary)
            .args([
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                &port.to_string(),
                "--disableTelemetry",
                "--location",
            ])
            .arg(data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("azurite starts");
        let mut azurite = Self {
            child: Some(child),
            port,
            _data: data,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(mut child) = azurite
                .child
                .take_if(|child| child.try_wait().ok().flatten().is_some())
            {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                if stderr.contains("EADDRINUSE") {
                    return None;
                }
                panic!("azurite exited: {stderr}");
            }
            assert!(started.elapsed() < START_DEADLINE, "azurite did not start");
            thread::sleep(Duration::from_millis(25));
        }
        // Keep its error output from filling the pipe.
        if let Some(stderr) = azurite.child.as_mut().and_then(|child| child.stderr.take()) {
            collect(stderr, Arc::default());
        }
        Some(azurite)
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

impl Drop for Azurite {
    fn drop(&mut self) {
        self.stop();
    }
}
