//! What `/healthz` and `/api/v1/servers` report beyond "the task runs": a hosted server that
//! failed, an iterative TCP server held by a silent client, a TCP server at its connection cap,
//! and a packet capture that died. Each is a sentence an operator can act on.

use socketlab_proto::wire::CaptureStatus;

use super::AppState;

/// How long an iterative TCP server may wait for one client's message before `/healthz` says
/// the server is held: a gateway exchange sends at once, so only a silent client waits longer.
const HELD_TOO_LONG_US: u64 = 250_000;

impl AppState {
    /// The capture as it is now: off with a reason once it has stopped.
    pub(super) fn capture_now(&self) -> CaptureStatus {
        let mut now = self.capture.clone();
        if now.enabled && !self.capture_live.running() {
            now.enabled = false;
            now.reason = Some(format!(
                "packet capture stopped: {}; packets are inferred from socket calls instead",
                self.capture_live.reason().unwrap_or_default()
            ));
        }
        now
    }

    /// What stands in the way of serving exchanges, one sentence each; empty when healthy.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.servers.all().iter().filter_map(|h| h.problem()).collect();
        let tcp = &self.tcp_status;
        let held = tcp.held_for_us(self.tracer.now_us()).filter(|&us| us >= HELD_TOO_LONG_US);
        if let Some(us) = held {
            out.push(format!(
                "the iterative TCP server has been held for {} ms by a client that sends nothing; TCP exchanges wait behind it",
                us / 1000
            ));
        } else if tcp.open() >= tcp.cap() {
            out.push(format!(
                "the hosted TCP server holds its cap of {} connections and accepts no more until one ends",
                tcp.cap()
            ));
        }
        if self.capture.enabled && !self.capture_live.running() {
            out.push(self.capture_now().reason.unwrap_or_default());
        }
        out
    }
}
