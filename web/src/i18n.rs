//! Every string the page shows, in English and Chinese, in one table.
//!
//! Templates use `{name}` placeholders filled by [`fill`], so word order can differ between
//! languages.

pub use socketlab_proto::text::{Lang, fill};
use socketlab_proto::text::{Row, lookup};

/// (key, English, Chinese).
const TABLE: &[Row] = &[
    ("title", "socketlab: sockets, step by step", "socketlab：一步一步看套接字"),
    ("lang_toggle", "中文", "English"),
    ("message", "Message", "消息"),
    ("message_placeholder", "type a lowercase sentence", "输入一句小写的句子"),
    ("protocol", "Protocol", "协议"),
    ("send", "Send", "发送"),
    ("impair", "Lose a packet", "丢一个包"),
    ("impair_none", "nothing lost", "不丢包"),
    ("impair_udp_request", "UDP: drop the request", "UDP：丢掉请求"),
    ("impair_udp_reply", "UDP: drop the reply", "UDP：丢掉回复"),
    ("impair_udp_delay", "UDP: delay the reply 500 ms", "UDP：回复延迟 500 毫秒"),
    ("impair_udp_duplicate", "UDP: duplicate the reply", "UDP：回复发两次"),
    ("impair_tcp_syn", "TCP: drop the SYN", "TCP：丢掉 SYN"),
    ("impair_tcp_syn_ack", "TCP: drop the SYN-ACK", "TCP：丢掉 SYN-ACK"),
    ("impair_tcp_data", "TCP: drop the data segment", "TCP：丢掉数据报文段"),
    ("impair_tcp_reply", "TCP: drop the reply segment", "TCP：丢掉回复报文段"),
    ("impair_tcp_fin", "TCP: drop the FIN", "TCP：丢掉 FIN"),
    ("compare", "Compare UDP and TCP", "比较 UDP 与 TCP"),
    ("live", "Live view", "实时视图"),
    ("reply", "Reply", "回复"),
    ("timeline", "Timeline", "时间线"),
    ("step_back", "Step back", "后退一步"),
    ("step", "Step", "前进一步"),
    ("play", "Play", "播放"),
    ("pause", "Pause", "暂停"),
    ("inspector", "Inspector", "检查器"),
    ("code", "Code", "代码"),
    ("tcp_states", "TCP states", "TCP 状态"),
    ("history", "History", "历史"),
    ("live_traffic", "Live traffic", "实时流量"),
    ("status_connecting", "Connecting…", "正在连接…"),
    ("status_connected", "Connected", "已连接"),
    ("status_reconnecting", "Reconnecting…", "正在重新连接…"),
    ("no_reply_yet", "Send a message to see the exchange.", "发送一条消息，查看整个交换过程。"),
    ("waiting", "Waiting for the server…", "正在等待服务器…"),
    ("reply_line", "{reply}", "{reply}"),
    ("elapsed", "in {ms} ms", "用时 {ms} 毫秒"),
    ("no_selection", "Select a step to inspect it.", "选择一个步骤来查看详情。"),
    ("step_of", "Step {n} of {total}", "第 {n} 步，共 {total} 步"),
    ("lane_client", "Client socket", "客户端套接字"),
    ("lane_udp", "UDP server socket", "UDP 服务器套接字"),
    ("lane_welcome", "Welcome socket", "欢迎套接字"),
    ("lane_connection", "Connection socket", "连接套接字"),
    ("lane_closed", "Closed port: nothing listens", "关闭的端口：无人监听"),
    ("client_program", "Client", "客户端"),
    ("server_program", "Server", "服务器"),
    ("no_code_line", "No line of code: the kernel sends this by itself.", "没有对应的代码行：这是内核自己发送的。"),
    (
        "udp_no_state",
        "UDP keeps no connection state: each datagram stands alone.",
        "UDP 不保存连接状态：每个数据报都是独立的。",
    ),
    ("client_state", "Client", "客户端"),
    ("server_state", "Server", "服务器"),
    ("inferred_note", "Inferred from socket calls, not captured.", "由套接字调用推断，并非抓包所得。"),
    (
        "live_empty",
        "Turn on Live view, then run a client in a terminal, for example the lesson's Python client.",
        "打开实时视图，然后在终端运行一个客户端，比如课程里的 Python 客户端。",
    ),
    ("history_empty", "Exchanges you send appear here.", "你发送的交换会出现在这里。"),
    ("field_from", "From", "源"),
    ("field_to", "To", "目的"),
    ("field_socket", "Socket", "套接字"),
    ("field_bytes", "Bytes", "字节数"),
    ("field_text", "Payload (text)", "载荷（文本）"),
    ("field_hex", "Payload (hex)", "载荷（十六进制）"),
    ("field_flags", "Flags", "标志"),
    ("field_time", "Time", "时间"),
    (
        "err_timeout",
        "No reply in time. UDP does not retry: the datagram or its reply may have been lost.",
        "没有及时收到回复。UDP 不会重传：数据报或回复可能丢失了。",
    ),
    ("err_server_down", "The server is not running, so nobody answered.", "服务器没有运行，所以没有人回答。"),
    (
        "err_rate_limited",
        "Too many messages at once. Wait a moment and send again.",
        "发送得太快了。请稍等片刻再发送。",
    ),
    ("err_too_large", "The message is too long for this playground.", "消息太长了，超出了本实验场的限制。"),
    (
        "err_too_many_in_flight",
        "Too many messages are still waiting for replies. Wait for them first.",
        "还有太多消息在等待回复，请先等待它们完成。",
    ),
    ("err_shutting_down", "The gateway is restarting. Send again in a moment.", "网关正在重启，请稍后再发送。"),
    (
        "err_disconnected",
        "The connection to the gateway was lost before the reply came.",
        "在收到回复之前，与网关的连接断开了。",
    ),
    ("err_other", "The exchange failed: {message}", "交换失败：{message}"),
    ("err_empty", "Type a message first.", "请先输入一条消息。"),
    (
        "err_connection_refused",
        "Nobody listens on that port, so the kernel refused: {how}",
        "那个端口上没有人监听，所以内核拒绝了：{how}",
    ),
    ("refused_tcp", "the SYN was answered with RST.", "SYN 得到的回答是 RST。"),
    ("refused_udp", "the datagram was answered with ICMP port unreachable.", "数据报得到的回答是 ICMP 端口不可达。"),
    ("download_pcap", "Download pcap", "下载 pcap"),
    ("scenarios", "Scenarios", "场景"),
    ("closed_udp", "UDP to a closed port", "UDP 发往关闭的端口"),
    ("closed_tcp", "TCP to a closed port", "TCP 连接关闭的端口"),
    ("closed_caption", "closed port", "关闭的端口"),
    ("capture_on", "Packets captured on {iface}", "正在 {iface} 上抓包"),
    ("capture_off", "Packets inferred from socket calls: {reason}", "数据包由套接字调用推断：{reason}"),
    ("captured_note", "Captured on the wire.", "这是在线路上抓到的真实数据包。"),
    ("field_seq", "Sequence number", "序号"),
    ("field_ack", "Acknowledgment number", "确认号"),
    ("field_window", "Window", "窗口"),
    ("field_options", "TCP options", "TCP 选项"),
    ("check_title", "Check my program", "检查我的程序"),
    ("check_program", "Program", "程序"),
    ("check_udp_server", "UDP server", "UDP 服务器"),
    ("check_tcp_server", "TCP server", "TCP 服务器"),
    ("check_target", "Listed target", "列出的目标"),
    ("check_run", "Run the check", "运行检查"),
    (
        "check_no_targets",
        "This gateway lists no targets to check; its operator adds them under [targets] in the config file.",
        "这个网关没有列出可检查的目标；运营者需要在配置文件的 [targets] 中添加。",
    ),
    ("check_running", "Checking {target}…", "正在检查 {target}……"),
    (
        "check_passed",
        "Passed: {score} points of {max} (bonus included).",
        "通过：{max} 分中得 {score} 分（含附加分）。",
    ),
    (
        "check_failed",
        "Not passed: a required item failed. {score} points of {max}.",
        "未通过：有必需项失败。{max} 分中得 {score} 分。",
    ),
    ("check_bonus", " bonus", " 附加"),
    ("verdict_pass", "pass", "通过"),
    ("verdict_fail", "FAIL", "失败"),
    ("verdict_skip", "skipped", "跳过"),
    ("labs_title", "Labs", "实验"),
    ("lab_all", "← All labs", "← 全部实验"),
    ("lab_done", "{pct}% done", "已完成 {pct}%"),
    ("lab_check", "Check", "检查"),
    ("lab_reset", "Reset", "重来"),
    ("lab_passed", "Passed: every check of this step holds.", "通过：这一步的每项检查都成立。"),
    ("lab_failed", "Not yet: see why below.", "还没有通过：原因见下。"),
    ("lab_look", "Show that step", "显示那一步"),
    ("lab_unreachable", "The gateway did not answer about the labs.", "网关没有回应实验的请求。"),
    ("share", "Share", "分享"),
    ("share_saving", "Saving…", "正在保存…"),
    ("share_copied", "Link copied", "链接已复制"),
    ("share_manual", "Copy this link:", "请复制这个链接："),
    ("share_link", "Link to this exchange", "这个交换的链接"),
    (
        "share_expired",
        "The gateway no longer keeps this exchange. Send it again, then share it.",
        "网关已不再保存这个交换。请重新发送，然后再分享。",
    ),
    ("share_too_large", "This exchange is too large to save.", "这个交换太大，无法保存。"),
    (
        "share_rate_limited",
        "Too many requests at once. Wait a moment and share again.",
        "请求太频繁了。请稍等片刻再分享。",
    ),
    ("share_unreachable", "The gateway did not answer.", "网关没有回应。"),
    ("share_failed", "The link could not be made: {detail}", "无法生成链接：{detail}"),
    (
        "share_unnamed",
        "The gateway this page is connected to does not keep this exchange, so it cannot be shared. Send it again.",
        "当前连接的网关没有保存这个交换，所以无法分享。请重新发送。",
    ),
    ("saved_banner", "Saved exchange, read-only", "已保存的交换，只读"),
    ("saved_loading", "Loading the saved exchange…", "正在加载已保存的交换…"),
    (
        "saved_missing",
        "No saved exchange has this link: it is mistyped, or it has expired.",
        "没有与这个链接对应的已保存交换：链接有误，或已过期。",
    ),
    ("saved_failed", "The saved exchange could not be loaded: {detail}", "无法加载已保存的交换：{detail}"),
    ("saved_live", "Open the live playground", "打开实时实验场"),
    ("saved_no_reply", "No reply reached the client on this timeline.", "在这条时间线上，客户端没有收到回复。"),
    ("status_saved", "Read-only", "只读"),
    ("relative_absolute", "{rel} (relative), {abs} (absolute)", "{rel}（相对），{abs}（绝对）"),
];

/// The text for `key` in `lang`, from this table then the class region's; the key itself if it is
/// missing, so a gap is visible.
pub fn t(lang: Lang, key: &str) -> &str {
    lookup(&[TABLE, crate::class::TEXT], lang, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_both_languages_and_is_unique() {
        assert_eq!(socketlab_proto::text::table_faults(&[TABLE, crate::class::TEXT]), Vec::<String>::new());
    }

    #[test]
    fn lookup_and_fill() {
        assert_eq!(t(Lang::En, "send"), "Send");
        assert_eq!(t(Lang::Zh, "send"), "发送");
        assert_eq!(t(Lang::En, "no_such_key"), "no_such_key");
        assert_eq!(fill(t(Lang::En, "step_of"), &[("n", "2"), ("total", "9")]), "Step 2 of 9");
    }
}
