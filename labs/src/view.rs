//! A lab in one language, as the API and the page show it: prompts, never answers.
//!
//! The lab file says where each answer is on the timeline; these views leave that out, so
//! nothing a student can read tells them what the evaluator will compute.

use serde::{Deserialize, Serialize};
use socketlab_proto::wire::{Protocol, Target};

use crate::{Lab, Lang};

/// One entry of `GET /api/v1/labs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabSummary {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// How many steps the lab has.
    pub steps: usize,
}

/// `GET /api/v1/labs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabView {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub steps: Vec<StepView>,
}

/// One step, with its actions and the prompts of its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepView {
    pub id: String,
    pub title: String,
    pub instructions: String,
    pub actions: Vec<ActionView>,
    /// Questions the student answers, by `id`.
    pub questions: Vec<Prompt>,
    /// Things the student's exchanges must show.
    pub observations: Vec<Prompt>,
}

/// A check's id and what it asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Prompt {
    pub id: String,
    pub prompt: String,
}

/// A button: the exchange it runs through `POST /api/v1/exchanges` or the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionView {
    pub label: String,
    pub protocol: Protocol,
    /// The message to send, already repeated; absent when the student types it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Milliseconds the client keeps its connection open before sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
}

impl Lab {
    pub fn summary(&self, lang: Lang) -> LabSummary {
        LabSummary {
            id: self.id.clone(),
            title: self.title.get(lang).to_owned(),
            summary: self.summary.get(lang).to_owned(),
            steps: self.steps.len(),
        }
    }

    pub fn view(&self, lang: Lang) -> LabView {
        let prompt = |id: &str, p: &crate::Text| Prompt { id: id.to_owned(), prompt: p.get(lang).to_owned() };
        LabView {
            id: self.id.clone(),
            title: self.title.get(lang).to_owned(),
            summary: self.summary.get(lang).to_owned(),
            steps: self
                .steps
                .iter()
                .map(|s| StepView {
                    id: s.id.clone(),
                    title: s.title.get(lang).to_owned(),
                    instructions: s.instructions.get(lang).to_owned(),
                    actions: s
                        .actions
                        .iter()
                        .map(|a| ActionView {
                            label: a.label.get(lang).to_owned(),
                            protocol: a.protocol,
                            message: a.message.as_ref().map(|m| m.repeat(a.repeat.unwrap_or(1).max(1) as usize)),
                            message_base64: a.message_base64.clone(),
                            target: a.target,
                            hold_ms: a.hold_ms,
                        })
                        .collect(),
                    questions: s.questions.iter().map(|q| prompt(&q.id, &q.prompt)).collect(),
                    observations: s.observations.iter().map(|o| prompt(&o.id, &o.prompt)).collect(),
                })
                .collect(),
        }
    }
}
