//! A throwaway Postgres server for tests: `initdb` in a temp directory, a server on a free
//! loopback port with its socket in that directory, stopped (`pg_ctl stop -m immediate`) and
//! deleted when dropped. Never the system service.
//!
//! The binaries come from `ATALAYA_PG_BIN`, else `pg_config --bindir`, else
//! `/usr/lib/postgresql/15/bin` (`scripts/postgres.sh` installs them). Postgres refuses to
//! run as root: under root the server runs as the `postgres` user (`runuser`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    next_db: AtomicU32,
}

const USER: &str = "atalaya";

fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("ATALAYA_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let fallback = PathBuf::from("/usr/lib/postgresql/15/bin");
    if fallback.join("initdb").exists() {
        return Ok(fallback);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|e| format!("no Postgres binaries (run scripts/postgres.sh): pg_config: {e}"))?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if dir.join("initdb").exists() {
        Ok(dir)
    } else {
        Err("no initdb found (run scripts/postgres.sh, or set ATALAYA_PG_BIN)".into())
    }
}

/// A CA and a server certificate (localhost, 127.0.0.1) under `dir`, the key readable by its
/// owner only (Postgres refuses a key others can read).
fn make_certificates(dir: &Path) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=atalaya-test-ca",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ])?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .map_err(|e| e.to_string())?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ])?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .map_err(|e| e.to_string())
}

/// A pool of 4 connections on `url` (each call a separate pool: a separate "replica").
pub async fn pool(url: &str) -> Result<crate::Pool, String> {
    crate::connect(&crate::Settings {
        url: url.to_owned(),
        pool_size: 4,
        ..crate::Settings::default()
    })
    .await
    .map_err(|e| e.to_string())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

impl Cluster {
    /// Creates and starts a cluster; the error says what is missing.
    pub fn start() -> Result<Cluster, String> {
        Self::start_with(false)
    }

    /// A cluster that speaks TLS with a certificate for `localhost` and `127.0.0.1`, signed
    /// by a throwaway CA ([`Cluster::ca_file`]), made with the `openssl` command.
    pub fn start_tls() -> Result<Cluster, String> {
        Self::start_with(true)
    }

    /// The PEM file of the CA that signed a TLS cluster's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn start_with(tls: bool) -> Result<Cluster, String> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("atalaya-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // The effective user, from `id -u` (no libc binding needed).
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let as_postgres = uid == "0";
        // Before the chown: the key must end up owned by the server's user.
        if tls {
            make_certificates(dir.path())?;
        }
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("chown of the cluster directory to postgres failed".into());
            }
        }
        let tls_options = if tls {
            let d = dir.path().display();
            format!(" -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key")
        } else {
            String::new()
        };
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            as_postgres,
            next_db: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        )?;
        // A port picked free can be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            let options = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{tls_options}",
                cluster.port,
                cluster.dir.path().display()
            );
            let log = cluster.dir.path().join("server.log").display().to_string();
            match cluster.run(
                "pg_ctl",
                &[
                    "-D",
                    &data.display().to_string(),
                    "-o",
                    &options,
                    "-l",
                    &log,
                    "-w",
                    "start",
                ],
            ) {
                Ok(()) => return Ok(cluster),
                Err(e) => {
                    last = format!(
                        "{e}; server log: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
            }
        }
        Err(format!("the test server did not start: {last}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn database(&self) -> Result<String, String> {
        let n = self.next_db.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{n}");
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        // The connection is driven here, beside the statement, until the client is dropped.
        let create = async move {
            let r = client
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
                .await;
            drop(client);
            r
        };
        let (created, _) = tokio::join!(create, conn);
        created.map_err(|e| crate::describe(&e))?;
        Ok(self.url(&format!("t{n}")))
    }

    /// A pool on a new, empty database (4 connections): what each conformance case starts
    /// from.
    pub async fn pool(&self) -> Result<crate::Pool, String> {
        pool(&self.database().await?).await
    }

    /// Stops the server now (what `kill -9` of the machine would leave: no clean shutdown).
    pub fn stop(&self) {
        let data = self.data_dir().display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
