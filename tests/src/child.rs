//! Child processes that cannot outlive their test, and waiting for their output lines.

use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A stdout line for [`ChildGuard::expect_all`] to wait for: what it means (for the
/// failure message), and how to recognise it.
pub type Wanted<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// A child process that is killed (SIGKILL) and reaped when the guard is dropped,
/// also when the test panics. It only ever kills its own child, by pid.
///
/// Made with [`ChildGuard::spawn`], its stdout is read line by line on a reader thread
/// (await lines with [`ChildGuard::expect_line`]) and its stderr is collected (see
/// [`ChildGuard::stderr`]) and shown in error messages.
pub struct ChildGuard {
    child: Child,
    lines: Option<Receiver<String>>,
    stdout_seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    label: String,
}

impl std::fmt::Debug for ChildGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildGuard")
            .field("pid", &self.child.id())
            .field("label", &self.label)
            .finish()
    }
}

impl ChildGuard {
    /// Spawns `cmd` with stdin null, stdout and stderr piped, and starts the reader
    /// threads. Use [`ChildGuard::new`] to guard a child spawned some other way.
    pub fn spawn(cmd: &mut Command) -> io::Result<ChildGuard> {
        let label = format!("{:?}", cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut g = ChildGuard::new(child);
        g.label = label;
        Ok(g)
    }

    /// Guards an already spawned child. If its stdout/stderr were piped they are read
    /// by background threads as with [`ChildGuard::spawn`].
    pub fn new(mut child: Child) -> ChildGuard {
        let lines = child.stdout.take().map(|out| {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let buf = stderr.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                loop {
                    match err.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf
                            .lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&chunk[..n])),
                    }
                }
            });
        }
        ChildGuard {
            label: format!("pid {}", child.id()),
            child,
            lines,
            stdout_seen: Vec::new(),
            stderr,
        }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The guarded child.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Everything the child wrote to stderr so far (when it was piped).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits at most `timeout` for `needle` to appear in the child's stderr; whether it
    /// did. Stderr is read by its own thread, so a warning written just before a stdout
    /// line the test has already seen may not be in [`ChildGuard::stderr`] yet.
    pub fn stderr_has(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr.lock().unwrap().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every stdout line returned or skipped so far by [`ChildGuard::expect_line`] /
    /// [`ChildGuard::next_line`].
    pub fn stdout_seen(&self) -> &[String] {
        &self.stdout_seen
    }

    /// Waits at most `timeout` for a stdout line for which `pred` is true and returns
    /// it; lines before it are skipped (kept in [`ChildGuard::stdout_seen`]). `Err`
    /// explains a timeout or end of output, with the child's output so far.
    pub fn expect_line<P: FnMut(&str) -> bool>(
        &mut self,
        mut pred: P,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Ok(line) => {
                    if pred(&line) {
                        return Ok(line);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads stdout lines until every predicate in `wanted` has matched one (in any
    /// order, one line may match several), or panics after `limit` naming the ones that
    /// did not, with the child's output so far.
    #[track_caller]
    pub fn expect_all(&mut self, wanted: &[Wanted<'_>], limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut missing: BTreeSet<usize> = (0..wanted.len()).collect();
        while !missing.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left) {
                Ok(line) => missing.retain(|&i| !(wanted[i].1)(&line)),
                Err(e) => {
                    let names: Vec<&str> = missing.iter().map(|&i| wanted[i].0).collect();
                    panic!("never saw {names:?}: {e}");
                }
            }
        }
    }

    /// The next stdout line, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String, String> {
        let Some(rx) = &self.lines else {
            return Err(format!("{}: stdout was not piped", self.label));
        };
        match rx.recv_timeout(timeout) {
            Ok(line) => {
                self.stdout_seen.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => {
                Err(self.explain(&format!("no matching stdout line within {timeout:?}")))
            }
            Err(RecvTimeoutError::Disconnected) => {
                // give the stderr reader a moment to finish
                thread::sleep(Duration::from_millis(50));
                let status = self.child.try_wait().ok().flatten();
                Err(self.explain(&format!("stdout ended (exit status: {status:?})")))
            }
        }
    }

    fn explain(&self, what: &str) -> String {
        format!(
            "{}: {what}\n--- stdout so far ---\n{}\n--- stderr so far ---\n{}",
            self.label,
            self.stdout_seen.join("\n"),
            self.stderr()
        )
    }

    /// Waits at most `timeout` for the child to exit (polling every 10 ms).
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGINT to the child (if it still runs): a Python program then raises
    /// `KeyboardInterrupt` and runs its `atexit` handlers (networkzero unadvertises its
    /// names), unlike with SIGTERM/SIGKILL. Then use [`ChildGuard::wait_timeout`].
    pub fn interrupt(&mut self) -> io::Result<()> {
        self.signal(rustix::process::Signal::INT)
    }

    /// Sends SIGTERM to the child (if it still runs).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.signal(rustix::process::Signal::TERM)
    }

    /// Stops the child (SIGSTOP) until [`ChildGuard::resume`]: what is sent to it
    /// meanwhile waits in its sockets. Returns once every thread of it has stopped
    /// (a signal is delivered after `kill` returns: a thread about to wake could
    /// still read what is sent just after); an error if that takes over 10 s.
    pub fn pause(&mut self) -> io::Result<()> {
        self.signal(rustix::process::Signal::STOP)?;
        let tasks = format!("/proc/{}/task", self.child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !all_stopped(&tasks)? {
            if Instant::now() >= deadline {
                return Err(io::Error::other("not stopped 10 s after SIGSTOP"));
            }
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Lets a child stopped by [`ChildGuard::pause`] run again (SIGCONT).
    pub fn resume(&mut self) -> io::Result<()> {
        self.signal(rustix::process::Signal::CONT)
    }

    fn signal(&mut self, sig: rustix::process::Signal) -> io::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(()); // already exited and reaped: the pid may belong to someone else
        }
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32)
            .ok_or_else(|| io::Error::other("bad pid"))?;
        rustix::process::kill_process(pid, sig).map_err(io::Error::from)
    }

    /// Kills the child now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Whether every thread listed in `tasks` (`/proc/PID/task`) is stopped, or gone.
fn all_stopped(tasks: &str) -> io::Result<bool> {
    for task in std::fs::read_dir(tasks)? {
        let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
            continue; // the thread has ended
        };
        // The state follows the thread's name, which is in parentheses.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if !matches!(state, Some('T' | 't' | 'Z' | 'X')) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
