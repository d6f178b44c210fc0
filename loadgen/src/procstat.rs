//! CPU time and resident memory of a process, from `/proc`.

use std::fs;

/// Clock ticks per second of `/proc/*/stat` times: Linux reports them in
/// USER_HZ, which is 100 on every architecture it exports to user space.
const USER_HZ: u64 = 100;

/// A process to read, `self` or a pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    /// The load generator itself.
    Myself,
    /// Another process, by pid.
    Pid(u32),
}

impl Process {
    fn path(self, file: &str) -> String {
        match self {
            Process::Myself => format!("/proc/self/{file}"),
            Process::Pid(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User plus system CPU time used so far, microseconds; `None` when the
    /// process is gone or unreadable.
    pub fn cpu_time_us(self) -> Option<u64> {
        parse_cpu_time_us(&fs::read_to_string(self.path("stat")).ok()?)
    }

    /// Resident set size (VmRSS), bytes; `None` when unreadable.
    pub fn resident_bytes(self) -> Option<u64> {
        parse_vm_rss_bytes(&fs::read_to_string(self.path("status")).ok()?)
    }
}

/// utime + stime from a `/proc/PID/stat` line, microseconds. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted from the
/// last `)`.
pub fn parse_cpu_time_us(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name: state(3) ... utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * (1_000_000 / USER_HZ))
}

/// VmRSS from `/proc/PID/status`, bytes.
pub fn parse_vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_utime_plus_stime_even_with_odd_command_names() {
        let stat =
            "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_cpu_time_us(stat), Some(3_000_000));
    }

    #[test]
    fn truncated_stat_is_unreadable() {
        assert_eq!(parse_cpu_time_us("4242 (x) S 1 2"), None);
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tmosquitto\nVmPeak:\t  9999 kB\nVmRSS:\t    6144 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss_bytes(status), Some(6144 * 1024));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(Process::Myself.cpu_time_us().is_some());
        assert!(Process::Myself.resident_bytes().unwrap() > 0);
    }
}
