//! `pushdeploy serve` as a child process with a generated config, waited for by polling
//! `/healthz`, killable with SIGKILL (crash tests). Killed on drop.

use super::{free_port, wait_for};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct App {
    child: Option<Child>,
    pub port: u16,
    config: PathBuf,
    pub log: PathBuf,
    env: Vec<(String, String)>,
    /// A command the service is started under (e.g. `prlimit --nofile=128:128 --`), if any.
    wrapper: Vec<String>,
}

impl App {
    /// Write `config` (with `{port}` replaced by a free port) and start the service.
    pub fn start(dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_on(free_port(), dir, config, env)
    }

    /// As `start`, on a port chosen beforehand (e.g. already named in a registry's config).
    pub fn start_on(port: u16, dir: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        Self::start_wrapped(port, dir, config, env, &[])
    }

    /// As `start_on`, with the service started under `wrapper` (a command that execs the rest of
    /// its arguments, like `prlimit --nofile=128:128 --`).
    pub fn start_wrapped(
        port: u16,
        dir: &Path,
        config: &str,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Self {
        let path = dir.join("pushdeploy.yaml");
        std::fs::write(&path, config.replace("{port}", &port.to_string())).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut app = Self {
            child: None,
            port,
            config: path,
            log: dir.join("pushdeploy.log"),
            env,
            wrapper: wrapper.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        app.launch();
        app
    }

    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let binary = env!("CARGO_BIN_EXE_pushdeploy");
        let mut command = match self.wrapper.split_first() {
            None => Command::new(binary),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("PUSHDEPLOY_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_for("pushdeploy to answer /healthz", Duration::from_secs(30), || {
            get(port, "/healthz").filter(|(status, _)| *status == 200)
        });
    }

    /// SIGKILL: no chance to flush or finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then wait for the exit status (graceful shutdown).
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait().unwrap().code()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        get(self.port, path)
    }

    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        request(self.port, "POST", path, headers, body).unwrap()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    request(port, "GET", path, &[], b"")
}

/// A minimal HTTP/1.1 client (Connection: close), enough for tests.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}
