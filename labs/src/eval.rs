//! The evaluator: a step's checks against the student's own timelines.
//!
//! A question's expected answer is computed here, from the timelines given, at the moment the
//! student answers, so it differs for every student and every attempt. The caller decides
//! which timelines count: the server passes only exchanges it ran and still keeps. A failed
//! check says why in one sentence and names the timeline step to look at; the expected value
//! never leaves this module.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use socketlab_proto::{Event, Flag, Op, Side};

use crate::seen::observation;
use crate::{Answer, Lang, Question, Step};

/// One exchange's timeline, as the evaluator reads it.
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    /// The exchange's name, for the step a failed check points at.
    pub exchange: &'a str,
    pub events: &'a [Event],
}

/// Where on the timeline to look: a step (1-based, as the page numbers them) of an exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct At {
    pub exchange: String,
    pub step: usize,
}

/// The outcome of one question or observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckResult {
    pub id: String,
    pub passed: bool,
    /// One sentence: why it failed and which step to look at, or that it passed.
    pub why: String,
    /// The answer needs captured packets, and the exchanges named had none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_capture: bool,
    /// The timeline step the sentence names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<At>,
}

/// The outcome of a step: it passes when every check does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepResult {
    pub passed: bool,
    pub checks: Vec<CheckResult>,
}

/// Evaluates every check of `step`; `answers` maps question ids to the student's text.
pub fn check_step(
    step: &Step,
    timelines: &[Timeline<'_>],
    answers: &BTreeMap<String, String>,
    lang: Lang,
) -> StepResult {
    let mut checks: Vec<CheckResult> =
        step.questions.iter().map(|q| question(q, timelines, answers.get(&q.id).map(String::as_str), lang)).collect();
    checks.extend(step.observations.iter().map(|o| observation(o, timelines, lang)));
    StepResult { passed: checks.iter().all(|c| c.passed), checks }
}

pub(crate) fn tr(lang: Lang, en: String, zh: String) -> String {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

pub(crate) fn has_tcp_flag(e: &Event, flag: &str) -> bool {
    e.segment.as_ref().is_some_and(|s| s.flags.split(',').any(|f| f.trim() == flag))
}

fn is_flags(e: &Event, flags: &str) -> bool {
    e.op == Op::Segment && e.segment.as_ref().is_some_and(|s| s.flags == flags)
}

/// What a question's answer is, found on one timeline.
enum Found {
    Value(usize, Value),
    /// The event is there, but its value was not captured.
    Uncaptured(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value {
    Num(u64),
    Side(Side),
}

fn locate(answer: Answer, events: &[Event]) -> Option<Found> {
    let find = |p: &dyn Fn(&Event) -> bool| events.iter().position(p);
    let num = |i: usize, v: Option<u64>| Some(v.map_or(Found::Uncaptured(i), |v| Found::Value(i, Value::Num(v))));
    let client = |e: &Event| e.side == Side::Client;
    let server = |e: &Event| e.side == Side::Server && e.op != Op::Segment;
    match answer {
        Answer::ClientPort => {
            if let Some(i) = find(&|e| client(e) && e.op != Op::Segment && e.local.is_some_and(|a| a.port() != 0)) {
                return num(i, events[i].local.map(|a| u64::from(a.port())));
            }
            // A client outside the gateway (a terminal): the server saw its address.
            let i = find(&|e| server(e) && matches!(e.op, Op::Recvfrom | Op::Accept) && e.peer.is_some())?;
            num(i, events[i].peer.map(|a| u64::from(a.port())))
        }
        Answer::ServerPort => {
            let i = find(&|e| client(e) && matches!(e.op, Op::Sendto | Op::Connect) && e.peer.is_some())?;
            num(i, events[i].peer.map(|a| u64::from(a.port())))
        }
        Answer::SynSeq => {
            let i = find(&|e| client(e) && is_flags(e, "SYN"))?;
            num(i, events[i].segment.as_ref().and_then(|s| s.seq).map(u64::from))
        }
        Answer::SynackSeq | Answer::SynackAck => {
            let i = find(&|e| e.side == Side::Server && is_flags(e, "SYN,ACK"))?;
            let s = events[i].segment.as_ref();
            let v = if answer == Answer::SynackSeq { s.and_then(|s| s.seq) } else { s.and_then(|s| s.ack) };
            num(i, v.map(u64::from))
        }
        Answer::ServerRecvBytes => {
            let i = find(&|e| server(e) && e.op == Op::Recv && !e.has(Flag::Failed) && !e.has(Flag::Truncated))?;
            num(i, events[i].bytes)
        }
        Answer::ServerRecvfromBytes => {
            let i = find(&|e| server(e) && e.op == Op::Recvfrom && !e.has(Flag::Failed))?;
            num(i, events[i].bytes)
        }
        Answer::ClientSentBytes => {
            let i = find(&|e| client(e) && matches!(e.op, Op::Send | Op::Sendto) && !e.has(Flag::Failed))?;
            num(i, events[i].bytes)
        }
        Answer::FirstFin => {
            let i = find(&|e| e.op == Op::Segment && has_tcp_flag(e, "FIN"))?;
            Some(Found::Value(i, Value::Side(events[i].side)))
        }
        Answer::ConnectionPort => {
            let i = find(&|e| e.side == Side::Server && e.op == Op::Accept && e.local.is_some())?;
            num(i, events[i].local.map(|a| u64::from(a.port())))
        }
    }
}

/// The timeline step an answer lives at, in the student's words.
fn what(answer: Answer, lang: Lang) -> String {
    let (en, zh) = match answer {
        Answer::ClientPort => ("the client socket's own port", "客户端套接字自己的端口"),
        Answer::ServerPort => ("the port the client sent to", "客户端发往的端口"),
        Answer::SynSeq => ("the SYN's sequence number", "SYN 的序号"),
        Answer::SynackSeq => ("the SYN-ACK's sequence number", "SYN-ACK 的序号"),
        Answer::SynackAck => ("the SYN-ACK's acknowledgement number", "SYN-ACK 的确认号"),
        Answer::ServerRecvBytes => ("the byte count of the server's recv", "服务器 recv 返回的字节数"),
        Answer::ServerRecvfromBytes => ("the byte count of the server's recvfrom", "服务器 recvfrom 返回的字节数"),
        Answer::ClientSentBytes => ("the byte count the client sent", "客户端发送的字节数"),
        Answer::FirstFin => ("the side that sent the first FIN", "先发送 FIN 的一方"),
        Answer::ConnectionPort => ("the connection socket's port", "连接套接字的端口"),
    };
    tr(lang, en.to_owned(), zh.to_owned())
}

pub(crate) fn step_ref(lang: Lang, at: &At) -> String {
    tr(
        lang,
        format!("step {} of exchange {}", at.step, at.exchange),
        format!("交换 {} 的第 {} 步", at.exchange, at.step),
    )
}

fn parse(value: Value, text: &str) -> Option<bool> {
    let t = text.trim();
    match value {
        Value::Num(v) => t.parse::<u64>().ok().map(|n| n == v),
        Value::Side(side) => {
            let said = match t.to_ascii_lowercase().as_str() {
                "client" | "客户端" | "客户机" => Side::Client,
                "server" | "服务器" | "服务端" | "服务器端" => Side::Server,
                _ => return None,
            };
            Some(said == side)
        }
    }
}

fn question(q: &Question, timelines: &[Timeline<'_>], given: Option<&str>, lang: Lang) -> CheckResult {
    let mut result =
        CheckResult { id: q.id.clone(), passed: false, why: String::new(), needs_capture: false, at: None };
    // The newest exchange that has the answer decides; an uncaptured one only if none has it.
    let mut uncaptured = None;
    let mut found = None;
    for t in timelines.iter().rev() {
        match locate(q.answer, t.events) {
            Some(Found::Value(i, v)) => {
                found = Some((At { exchange: t.exchange.to_owned(), step: i + 1 }, v));
                break;
            }
            Some(Found::Uncaptured(i)) if uncaptured.is_none() => {
                uncaptured = Some(At { exchange: t.exchange.to_owned(), step: i + 1 });
            }
            _ => {}
        }
    }
    let what = what(q.answer, lang);
    let Some((at, value)) = found else {
        if let Some(at) = uncaptured {
            let r = step_ref(lang, &at);
            result.why = tr(
                lang,
                format!("{r} was inferred, not captured: this gateway captured no packets, so {what} is unknown."),
                format!("{r} 是推断的而不是抓到的：本网关没有抓包，所以{what}无从得知。"),
            );
            result.needs_capture = true;
            result.at = Some(at);
        } else {
            result.why = tr(
                lang,
                format!("None of the exchanges you named shows {what}: run this step's action, then check again."),
                format!("你指定的交换里都找不到{what}：先执行本步骤的操作，再检查。"),
            );
        }
        return result;
    };
    let r = step_ref(lang, &at);
    let answer = given.unwrap_or("").trim();
    result.why = match parse(value, answer) {
        _ if answer.is_empty() => {
            tr(lang, format!("No answer yet: read {what} at {r}."), format!("还没有回答：请在{r}读出{what}。"))
        }
        Some(true) => {
            result.passed = true;
            tr(lang, format!("Right: that is {what} at {r}."), format!("正确：这正是{r}的{what}。"))
        }
        Some(false) => tr(
            lang,
            format!("{answer:?} is not {what}: look again at {r}."),
            format!("“{answer}”不是{what}：请再看{r}。"),
        ),
        None => tr(
            lang,
            format!("{answer:?} is not the kind of answer asked for: read {what} at {r}."),
            format!("“{answer}”不是所问的那种答案：请在{r}读出{what}。"),
        ),
    };
    result.at = Some(at);
    result
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
