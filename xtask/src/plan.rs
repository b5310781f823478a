//! How big a benchmark run is, and what each size measures. Shared by the runner (`bench.rs`)
//! and the report (`report.rs`), so neither imports the other's internals.

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Full,
    Quick,
    Smoke,
}

pub struct Plan {
    pub reps: usize,
    pub secs: f64,
    pub udp_inflight: &'static [usize],
    pub tcp_clients: &'static [usize],
    pub sockets: &'static [usize],
    pub pins: &'static [bool],
    pub idle_sessions: usize,
    /// Capacity: students per step while stepping up, how long each step sends, and how many
    /// bisection steps follow between the last good and the first bad step.
    pub students: &'static [usize],
    pub student_secs: f64,
    pub bisect: usize,
}

pub fn plan(size: Size) -> Plan {
    match size {
        Size::Full => Plan {
            reps: 5,
            secs: 3.0,
            udp_inflight: &[1, 16, 64],
            tcp_clients: &[1, 8, 64],
            sockets: &[1, 10, 100],
            pins: &[false, true],
            idle_sessions: 10_000,
            students: &[25, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800],
            student_secs: 10.0,
            bisect: 3,
        },
        // Every scenario and level, unpinned only, to stay a few minutes on a fresh clone.
        Size::Quick => Plan {
            reps: 3,
            secs: 0.5,
            udp_inflight: &[1, 16, 64],
            tcp_clients: &[1, 8, 64],
            sockets: &[1, 10, 100],
            pins: &[false],
            idle_sessions: 2_000,
            students: &[25, 100, 400, 1600],
            student_secs: 4.0,
            bisect: 1,
        },
        Size::Smoke => Plan {
            reps: 1,
            secs: 0.3,
            udp_inflight: &[4],
            tcp_clients: &[2],
            sockets: &[4],
            pins: &[true],
            idle_sessions: 50,
            students: &[5],
            student_secs: 2.0,
            bisect: 0,
        },
    }
}
