//! A real PostgreSQL (Debian's `postgresql` package) in a throwaway cluster: `initdb` and
//! `pg_ctl` on a free loopback port, password (SCRAM) authentication over TCP, run as the
//! `postgres` user when the tests run as root (PostgreSQL refuses to run as root). Stopped
//! (immediately) and removed on drop.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Postgres {
    /// Holds the cluster (`data/`), its log and the password file; removed on drop.
    root: PathBuf,
    bin: PathBuf,
    pub port: u16,
    password: String,
    /// Run the server's programs as this user (`postgres` when the tests run as root).
    run_as: Option<&'static str>,
}

/// The newest installed server's programs (`/usr/lib/postgresql/<major>/bin`).
fn server_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: the test command installs Debian's postgresql package")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .expect("no /usr/lib/postgresql/<major>/bin/initdb: install Debian's postgresql package")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Postgres {
    /// A new cluster with a superuser `pushdeploy` (a generated password) and a database
    /// `pushdeploy`, started and accepting connections.
    pub fn start() -> Self {
        let root = tempfile::Builder::new()
            .prefix("pushdeploy-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let run_as = is_root().then_some("postgres");
        // The server runs as `postgres`: it must be able to reach and own its directory.
        set_mode(&root, 0o755);
        let password = format!("pw-{:032x}", rand::random::<u128>());
        let pwfile = root.join("pwfile");
        std::fs::write(&pwfile, &password).unwrap();
        let data = root.join("data");
        std::fs::create_dir(&data).unwrap();
        set_mode(&data, 0o700);
        if let Some(user) = run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:{user}"))
                .arg(&data)
                .arg(&pwfile)
                .status()
                .unwrap();
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let postgres = Self {
            bin: server_bin(),
            port: free_port(),
            password,
            run_as,
            root,
        };
        postgres.run_server_program(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "pushdeploy",
                "--pwfile",
                &pwfile.display().to_string(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        postgres.start_server();
        postgres.psql("postgres", "CREATE DATABASE pushdeploy");
        postgres
    }

    /// `postgres://pushdeploy:<password>@127.0.0.1:<port>/pushdeploy`.
    pub fn url(&self) -> String {
        format!(
            "postgres://pushdeploy:{}@127.0.0.1:{}/pushdeploy",
            self.password, self.port
        )
    }

    /// The generated password (what a test puts into a secret file or variable).
    pub fn password(&self) -> &str {
        &self.password
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Start the (stopped) server and wait until it accepts connections.
    pub fn start_server(&self) {
        let data = self.data().display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {data} -c max_connections=200",
            self.port
        );
        let log = self.root.join("server.log").display().to_string();
        if let Some(user) = self.run_as {
            // The log file must be writable by the server's user.
            let _ = std::fs::File::create(&log);
            let _ = Command::new("chown")
                .arg(format!("{user}:{user}"))
                .arg(&log)
                .status();
        }
        self.run_server_program(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-o", &options, "-w", "start"],
        );
    }

    /// Stop the server now (`-m immediate`: like a crash, clients are cut off at once).
    pub fn stop_server(&self) {
        let data = self.data().display().to_string();
        self.run_server_program("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Run `sql` in `database` (over TCP with the password) and return what psql printed
    /// (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "pushdeploy",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .env("PGPASSWORD", &self.password)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// `program` of the server's bin dir, run as the server's user.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&path);
                command
            }
            None => Command::new(&path),
        }
    }

    fn run_server_program(&self, program: &str, args: &[&str]) -> Output {
        let output = self
            .server_command(program)
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        output
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self
            .server_command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
