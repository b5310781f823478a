//! Tests of the Labs region: fetches, actions, checks, progress and its HTML.

use socketlab_proto::wire::Reply;

use super::*;
use crate::update::Msg;

const LIST: &str = r#"[{"id":"tcp-handshake","title":"The three-way handshake","summary":"s","steps":2}]"#;
const LAB: &str = r#"{"id":"tcp-handshake","title":"The three-way handshake","summary":"s","steps":[
  {"id":"numbers","title":"SYN and SYN-ACK","instructions":"Send a TCP message.",
   "actions":[{"label":"Send over TCP","protocol":"tcp","message":"hello handshake"}],
   "questions":[{"id":"syn_seq","prompt":"The SYN's seq?"},{"id":"synack_ack","prompt":"The SYN-ACK's ack?"}],
   "observations":[]},
  {"id":"server-isn","title":"The server's own number","instructions":"i","actions":[],
   "questions":[{"id":"synack_seq","prompt":"p"}],"observations":[]}]}"#;

fn lab(m: &mut Model, msg: LabMsg) -> Vec<Effect> {
    m.update(Msg::Lab(msg), 0)
}

fn connected() -> Model {
    let mut m = Model::default();
    m.status = crate::model::Status::Connected;
    m
}

/// A model with the handshake lab open on its first step.
fn opened() -> Model {
    let mut m = connected();
    let effects = lab(&mut m, LabMsg::Restore(String::new()));
    assert_eq!(effects, [Effect::Fetch { url: "/api/v1/labs".into(), body: None, then: Fetch::List }]);
    lab(&mut m, LabMsg::Fetched(Fetch::List, 200, LIST.into()));
    assert!(body(&m).contains("0% done"), "{}", body(&m));
    let effects = lab(&mut m, LabMsg::Open(0));
    assert_eq!(effects, [Effect::Fetch { url: "/api/v1/labs/tcp-handshake".into(), body: None, then: Fetch::Lab }]);
    lab(&mut m, LabMsg::Fetched(Fetch::Lab, 200, LAB.into()));
    m
}

#[test]
fn an_action_sends_its_exchange_and_check_posts_its_gateway_name_and_the_answers() {
    let mut m = opened();
    let html = body(&m);
    assert!(html.contains("data-lab-action=\"0\">Send over TCP") && html.contains("data-q=\"syn_seq\""), "{html}");
    let effects = lab(&mut m, LabMsg::Action(0, "ignored".into()));
    let Some(Effect::Send(ClientMsg::Exchange(req))) = effects.last() else { panic!("{effects:?}") };
    assert_eq!((req.protocol, req.message.as_deref()), (Protocol::Tcp, Some("hello handshake")));
    let id = req.id.clone().expect("id");
    let reply = Reply { id, reply: "HELLO".into(), reply_base64: None, elapsed_us: 1, exchange: Some("x1-ab".into()) };
    m.update(Msg::Frame(Box::new(ServerMsg::Reply(reply))), 1);
    lab(&mut m, LabMsg::Answer("syn_seq".into(), " 1234 ".into()));
    lab(&mut m, LabMsg::Answer("synack_ack".into(), "1235".into()));
    let effects = lab(&mut m, LabMsg::Check);
    let [Effect::Fetch { url, body: Some(posted), then: Fetch::Check }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(url, "/api/v1/labs/tcp-handshake/steps/numbers/check");
    assert_eq!(posted, r#"{"exchanges":["x1-ab"],"answers":{"syn_seq":"1234","synack_ack":"1235"}}"#);
    m.conversations.push(crate::model::Conversation { key: "udp 127.0.0.1:5".into(), events: Vec::new() });
    m.view = View::Live(0);
    let effects = lab(&mut m, LabMsg::Check);
    let [Effect::Fetch { body: Some(posted), .. }] = effects.as_slice() else { panic!("{effects:?}") };
    assert!(
        posted.starts_with(r#"{"exchanges":["x1-ab","udp 127.0.0.1:5"]"#),
        "the open Live conversation counts: {posted}"
    );

    // A failure names a step; Look opens that exchange at that step.
    let failed = r#"{"passed":false,"checks":[{"id":"syn_seq","passed":false,"why":"not the SYN's number","at":{"exchange":"x1-ab","step":1}}]}"#;
    assert!(lab(&mut m, LabMsg::Fetched(Fetch::Check, 200, failed.into())).is_empty());
    let html = result(&m);
    assert!(html.contains("not the SYN&#39;s number") || html.contains("not the SYN's number"), "{html}");
    assert!(html.contains("data-lab-look=\"0\""), "{html}");
    m.view = View::Empty;
    lab(&mut m, LabMsg::Look(0));
    assert_eq!((m.view, m.step), (View::Exchange(0), 0));

    // A pass marks the step done and saves the progress.
    let passed = r#"{"passed":true,"checks":[{"id":"syn_seq","passed":true,"why":"right"}]}"#;
    let effects = lab(&mut m, LabMsg::Fetched(Fetch::Check, 200, passed.into()));
    assert_eq!(effects, [Effect::Save(r#"{"tcp-handshake":["numbers"]}"#.into())]);
    assert!(body(&m).contains("50% done") && result(&m).contains("passed"), "{}", body(&m));
    m.update(Msg::ToggleLang, 2);
    assert!(body(&m).contains("已完成 50%"));
    assert_eq!(lab(&mut m, LabMsg::Reset), [Effect::Save("{}".into())]);
    assert!(body(&m).contains("0%") && m.labs.answers.is_empty() && m.labs.sent.is_empty());
}

#[test]
fn stored_progress_opens_the_first_step_not_done_and_bad_input_changes_nothing() {
    let mut m = connected();
    lab(&mut m, LabMsg::Restore(r#"{"tcp-handshake":["numbers"]}"#.into()));
    lab(&mut m, LabMsg::Restore("not json".into()));
    lab(&mut m, LabMsg::Fetched(Fetch::List, 200, LIST.into()));
    assert!(body(&m).contains("50% done"));
    assert!(lab(&mut m, LabMsg::Open(7)).is_empty(), "no such lab");
    lab(&mut m, LabMsg::Open(0));
    lab(&mut m, LabMsg::Fetched(Fetch::Lab, 200, LAB.into()));
    assert_eq!(m.labs.step, 1);
    assert!(body(&m).contains("SYN and SYN-ACK ✓"));
    lab(&mut m, LabMsg::Step(9));
    assert_eq!(m.labs.step, 1);
    assert!(lab(&mut m, LabMsg::Action(3, String::new())).is_empty(), "no such action");
    lab(&mut m, LabMsg::Fetched(Fetch::Check, 422, r#"{"code":"invalid_field","message":"unknown exchange"}"#.into()));
    assert!(result(&m).contains("unknown exchange"));
    lab(&mut m, LabMsg::Fetched(Fetch::Check, 0, String::new()));
    assert!(result(&m).contains("did not answer"));
    lab(&mut m, LabMsg::Fetched(Fetch::List, 500, "oops".into()));
    assert_eq!(m.labs.list.len(), 1, "a failed fetch keeps what was there");
    lab(&mut m, LabMsg::Close);
    assert!(body(&m).contains("data-lab=\"0\""));
    m.status = crate::model::Status::Reconnecting;
    lab(&mut m, LabMsg::Open(0));
    lab(&mut m, LabMsg::Fetched(Fetch::Lab, 200, LAB.into()));
    lab(&mut m, LabMsg::Step(0));
    assert!(lab(&mut m, LabMsg::Action(0, String::new())).is_empty(), "nothing is sent while reconnecting");
}
