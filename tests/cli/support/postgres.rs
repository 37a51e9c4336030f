//! A real PostgreSQL for the tests: a throwaway cluster in a temporary directory, on a free
//! port of 127.0.0.1, with its socket in that directory and `fsync` on (the store's tests are
//! about durability), one database for each test.
//!
//! The server binaries (`initdb`, `pg_ctl`) are looked for on `PATH`, then under
//! `/usr/lib/postgresql/*/bin` (where Debian puts them). `initdb` refuses to run as root, so as
//! root the cluster is made and run by the `postgres` system user (`runuser`, else `su`).
//! `FLOWC_TEST_POSTGRES_URL` (a URL whose user may create databases) uses a developer's own
//! server instead of the shared cluster. Without either, the tests that need PostgreSQL say
//! why and return, except in CI (`CI=true`), where they fail: CI installs the server.
//!
//! A cluster outlives no test binary, even one that panics or is killed: a small watchdog
//! process reads a pipe that only this process holds open, and when it reads the end (this
//! process is gone, however it ended) it stops the server at once and removes the directory.
//!
//! The tests of TLS to the database share one more cluster, started with `ssl=on` and a
//! certificate for `localhost` made for the run by a certificate authority of its own
//! ([`tls_cluster`]; `rcgen`, so no `openssl` is needed).
//!
//! This file is shared by the CLI tests and the store's own tests (included with `#[path]`),
//! so it uses nothing but the standard library, `tempfile`-free paths, the `postgres` client
//! and `rcgen`.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The user the tests connect as, and its password (read from the URL, as a receiver would).
const USER: &str = "flowc";
pub(crate) const PASSWORD: &str = "flowc-test-password-7Qe2";

/// Why the tests that need PostgreSQL cannot run here, said once per test that skips. In CI a
/// skip would hide that these tests never ran, so there it fails instead.
fn skip(reason: &str) {
    assert!(
        std::env::var("CI").map_or(true, |value| value != "true"),
        "PostgreSQL is needed in CI: {reason}"
    );
    eprintln!("skipped: {reason} (install PostgreSQL's server, or set FLOWC_TEST_POSTGRES_URL)");
}

/// The server every test of this binary shares (its own database each), or `None` with the
/// reason printed when there is none.
pub(crate) fn shared() -> Option<&'static Server> {
    static SHARED: OnceLock<Result<Server, String>> = OnceLock::new();
    let server = SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("FLOWC_TEST_POSTGRES_URL") {
            return Ok(Server::External { url });
        }
        Cluster::start().map(Server::Cluster)
    });
    match server {
        Ok(server) => Some(server),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// A cluster of the test's own, which it may stop and start again (a database restarted under
/// a running receiver), or `None` with the reason printed.
pub(crate) fn own_cluster() -> Option<Cluster> {
    match Cluster::start() {
        Ok(cluster) => Some(cluster),
        Err(reason) => {
            skip(&reason);
            None
        }
    }
}

/// The cluster with TLS on that the TLS tests share, or `None` with the reason printed.
pub(crate) fn tls_cluster() -> Option<&'static TlsCluster> {
    static SHARED: OnceLock<Result<TlsCluster, String>> = OnceLock::new();
    match SHARED.get_or_init(TlsCluster::start) {
        Ok(cluster) => Some(cluster),
        Err(reason) => {
            skip(reason);
            None
        }
    }
}

/// A cluster serving TLS (and plain connections too, which the tests' own clients use) with a
/// certificate for the name `localhost` only, signed by a certificate authority made for it.
pub(crate) struct TlsCluster {
    pub(crate) cluster: Cluster,
    /// The authority's certificate (PEM), for `sslrootcert`.
    pub(crate) root_certificate: PathBuf,
}

impl TlsCluster {
    fn start() -> Result<TlsCluster, String> {
        let mut root_certificate = PathBuf::new();
        let cluster = Cluster::start_with(|cluster| {
            let (root, options) = cluster.make_certificates()?;
            root_certificate = root;
            Ok(options)
        })?;
        Ok(TlsCluster {
            cluster,
            root_certificate,
        })
    }

    /// The URL of `database` through `host` (which must reach 127.0.0.1), with
    /// `sslmode=verify-full` and this cluster's authority.
    pub(crate) fn url(&self, database: &Database, host: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@{host}:{}/{}?sslmode=verify-full&sslrootcert={}",
            self.cluster.port,
            database.name,
            path_str(&self.root_certificate)
        )
    }
}

pub(crate) enum Server {
    Cluster(Cluster),
    /// `FLOWC_TEST_POSTGRES_URL`.
    External {
        url: String,
    },
}

impl Server {
    /// A new, empty database and the URL that reaches it.
    pub(crate) fn database(&self) -> Database {
        match self {
            Server::Cluster(cluster) => cluster.database(),
            Server::External { url } => Database::create(url),
        }
    }
}

/// A database made for one test, dropped with it.
pub(crate) struct Database {
    /// `postgres://user:password@host:port/name`.
    pub(crate) url: String,
    pub(crate) name: String,
    admin_url: String,
}

impl Database {
    fn create(admin_url: &str) -> Database {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "flowc_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(admin_url, postgres::NoTls)
            .unwrap_or_else(|error| panic!("connecting to the test server: {error:?}"));
        // Two statements: CREATE DATABASE refuses to run in the implicit transaction of one.
        for statement in [
            format!("DROP DATABASE IF EXISTS {name}"),
            format!("CREATE DATABASE {name}"),
        ] {
            admin
                .batch_execute(&statement)
                .unwrap_or_else(|error| panic!("creating the test database {name}: {error:?}"));
        }
        let url = with_database(admin_url, &name);
        Database {
            url,
            name,
            admin_url: admin_url.to_owned(),
        }
    }

    /// A plain client on the database, to look at what a test stored.
    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|error| panic!("connecting to {}: {error}", self.name))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Best effort: a stopped cluster is removed whole anyway.
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// The URL with its database (the path) replaced.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |at| at + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// A PostgreSQL cluster in a temporary directory.
pub(crate) struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub(crate) port: u16,
    /// As root, the commands run as this system user.
    run_as: Option<&'static str>,
    /// More `-c` settings for the server (TLS).
    options: String,
    /// Held so that the watchdog's pipe stays open while this process lives.
    watchdog: Mutex<Option<std::process::ChildStdin>>,
}

impl Cluster {
    /// `initdb`, then the server started on a free port.
    pub(crate) fn start() -> Result<Cluster, String> {
        Cluster::start_with(|_| Ok(String::new()))
    }

    /// The same, with the files `prepare` writes after `initdb` and the settings it returns.
    fn start_with(prepare: impl FnOnce(&Cluster) -> Result<String, String>) -> Result<Cluster, String> {
        let bin = server_binaries().ok_or_else(|| {
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql/*/bin".to_owned()
        })?;
        let root = is_root();
        let run_as = root.then_some("postgres");
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flowc-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).map_err(|error| format!("creating {}: {error}", dir.display()))?;
        let cluster = Cluster {
            dir,
            bin,
            port: 0,
            run_as,
            options: String::new(),
            watchdog: Mutex::new(None),
        };
        cluster.arm_watchdog()?;
        if root {
            let owner = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .ok()
                .filter(|output| output.status.success())
                .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse::<u32>().ok())
                .ok_or("running as root, and there is no `postgres` system user to run initdb as")?;
            std::os::unix::fs::chown(&cluster.dir, Some(owner), None)
                .map_err(|error| format!("giving {} to postgres: {error}", cluster.dir.display()))?;
        }
        let password_file = cluster.dir.join("password");
        std::fs::write(&password_file, PASSWORD).map_err(|error| format!("writing the password: {error}"))?;
        if root {
            let _ = Command::new("chown").arg("postgres").arg(&password_file).status();
        }
        let data = cluster.data();
        let initdb = cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                USER,
                "--pwfile",
                path_str(&password_file),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        if !initdb.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&initdb.stderr)));
        }
        let mut cluster = cluster;
        cluster.options = prepare(&cluster)?;
        // A free port can be taken between the look and the start: tried a few times.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start_server() {
                Ok(()) => return Ok(cluster),
                Err(reason) => last = reason,
            }
        }
        Err(last)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The URL of the cluster's `postgres` database, as its owner.
    pub(crate) fn admin_url(&self) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    pub(crate) fn database(&self) -> Database {
        Database::create(&self.admin_url())
    }

    /// Stops the server at once (as a crash would: `immediate`), keeping its data.
    pub(crate) fn stop(&self) {
        let output = self
            .run(
                "pg_ctl",
                &["-D", path_str(&self.data()), "-m", "immediate", "-w", "stop"],
            )
            .unwrap_or_else(|reason| panic!("{reason}"));
        assert!(
            output.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the stopped server again on the same port.
    pub(crate) fn restart(&self) {
        self.start_server().unwrap_or_else(|reason| panic!("{reason}"));
    }

    fn start_server(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200{}",
            self.port,
            path_str(&self.dir),
            self.options
        );
        let log = self.dir.join("server.log");
        let output = self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data()),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        if output.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            Err(format!(
                "pg_ctl start failed: {}{}",
                String::from_utf8_lossy(&output.stderr),
                log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
            ))
        }
    }

    /// A certificate authority and a certificate for `localhost` it signed, with its key, in the
    /// cluster's directory (the key readable by the server's user only, as the server
    /// requires): the authority's file, and the settings that turn TLS on.
    fn make_certificates(&self) -> Result<(PathBuf, String), String> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let failed = |error: rcgen::Error| format!("making the test certificates: {error}");
        let mut authority = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        authority
            .distinguished_name
            .push(DnType::CommonName, "flowc test authority");
        authority.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let authority_key = KeyPair::generate().map_err(failed)?;
        let authority_certificate = authority.self_signed(&authority_key).map_err(failed)?;
        let issuer = Issuer::new(authority, authority_key);
        let mut server = CertificateParams::new(vec!["localhost".to_owned()]).map_err(failed)?;
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(failed)?;
        let server_certificate = server.signed_by(&server_key, &issuer).map_err(failed)?;
        let root = self.dir.join("root.crt");
        let certificate = self.dir.join("server.crt");
        let key = self.dir.join("server.key");
        let write = |path: &Path, text: String| {
            std::fs::write(path, text).map_err(|error| format!("writing {}: {error}", path.display()))
        };
        write(&root, authority_certificate.pem())?;
        write(&certificate, server_certificate.pem())?;
        write(&key, server_key.serialize_pem())?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .map_err(|error| format!("protecting {}: {error}", key.display()))?;
        }
        if let Some(user) = self.run_as {
            for path in [&certificate, &key] {
                let _ = Command::new("chown").arg(user).arg(path).status();
            }
        }
        let options = format!(
            " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            path_str(&certificate),
            path_str(&key)
        );
        Ok((root, options))
    }

    /// Runs one of the server's programs, as the `postgres` user when this process is root.
    fn run(&self, program: &str, args: &[&str]) -> Result<std::process::Output, String> {
        let program = self.bin.join(program);
        let mut command = match self.run_as {
            Some(user) if Path::new("/usr/sbin/runuser").exists() || which("runuser").is_some() => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(&program).args(args);
                command
            }
            Some(user) => {
                let mut line = shell_quote(path_str(&program));
                for arg in args {
                    line.push(' ');
                    line.push_str(&shell_quote(arg));
                }
                let mut command = Command::new("su");
                command.args([user, "-s", "/bin/sh", "-c"]).arg(line);
                command
            }
            None => {
                let mut command = Command::new(&program);
                command.args(args);
                command
            }
        };
        command
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|error| format!("running {}: {error}", program.display()))
    }

    /// The process that stops the server and removes the directory once this process is gone.
    fn arm_watchdog(&self) -> Result<(), String> {
        // Reads until the pipe ends (this process exited, however); then an immediate shutdown
        // (SIGQUIT to the postmaster, which root or the owner may send) and the directory
        // removed.
        let script = r#"
while read -r _; do :; done
pid=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ]; then
  kill -QUIT "$pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
"#;
        let child = Command::new("sh")
            .args(["-c", script, "flowc-pg-watchdog"])
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("starting the cluster's watchdog: {error}"))?;
        let mut child = child;
        let stdin = child.stdin.take().ok_or("the watchdog has no pipe")?;
        *self.watchdog.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(stdin);
        // Reaped by nobody on purpose: it must outlive this process.
        std::mem::forget(child);
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the pipe is enough: the watchdog stops the server and removes the directory.
        if let Some(mut pipe) = self
            .watchdog
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            let _ = pipe.flush();
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|output| output.stdout.trim_ascii() == b"0")
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The directory holding `initdb` and `pg_ctl`: on `PATH` (a link followed to the real
/// directory, which also holds `postgres`), else the newest `/usr/lib/postgresql/*/bin`.
fn server_binaries() -> Option<PathBuf> {
    if let Some(initdb) = which("initdb") {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let dir = real.parent()?.to_path_buf();
        if dir.join("pg_ctl").is_file() {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> Result<u16, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| format!("finding a free port: {error}"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(|error| format!("finding a free port: {error}"))
}

/// Waits until the server at `url` accepts connections again (after a restart).
pub(crate) fn wait_until_up(url: &str) {
    for _ in 0..200 {
        if postgres::Client::connect(url, postgres::NoTls).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the test server did not come back");
}
