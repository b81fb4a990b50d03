//! Guard policies: what each detector does. A policy is a TOML table (`[guard.policies.NAME]`
//! in the server's config, or the file given to `atalaya guard scan --policy`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{pii::EntityType, GuardError};

/// What happens to a PII entity in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Replaced by a typed placeholder (`[EMAIL_1]`), restored in the answer.
    #[default]
    Pseudonymize,
    /// Replaced by its type (`[EMAIL]`), irreversibly.
    Mask,
    /// The request is refused with an error naming the entity type.
    Block,
    /// Left as it is.
    Allow,
}

/// What an output check does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputAction {
    Mask,
    Block,
    Flag,
    Allow,
}

/// What the injection detector does when a text scores at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InjectionAction {
    Block,
    Flag,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiiPolicy {
    pub enabled: bool,
    /// The action for entity types not listed in `entities`.
    pub action: Action,
    /// Per entity type (`EMAIL = "mask"`, `SECRET = "block"`).
    pub entities: BTreeMap<String, Action>,
    /// Findings scored below this are ignored.
    pub min_score: f32,
}

impl Default for PiiPolicy {
    fn default() -> Self {
        PiiPolicy {
            enabled: true,
            action: Action::Pseudonymize,
            entities: BTreeMap::new(),
            min_score: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionPolicy {
    pub enabled: bool,
    pub action: InjectionAction,
    /// Score at or above which a user message is flagged (0..1). Classifier scores are
    /// calibrated so that 0.5 is the committed model's 1%-false-positive-rate point on its
    /// validation data; rules score 0.85–0.97.
    pub threshold: f32,
    /// Score at or above which a document, tool output or retrieved text is flagged.
    pub document_threshold: f32,
}

impl InjectionPolicy {
    /// The threshold for text from `source`.
    pub fn threshold_for(&self, source: crate::Source) -> f32 {
        match source {
            crate::Source::User => self.threshold,
            crate::Source::Document => self.document_threshold,
        }
    }
}

impl Default for InjectionPolicy {
    fn default() -> Self {
        InjectionPolicy {
            enabled: true,
            action: InjectionAction::Block,
            threshold: 0.5,
            document_threshold: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputPolicy {
    pub enabled: bool,
    /// PII in the answer that was not in the (pseudonymized) input.
    pub pii: OutputAction,
    /// System-prompt leakage (canary token or n-gram overlap).
    pub leakage: OutputAction,
    /// Put a per-request canary token in the system prompt.
    pub canary: bool,
    /// Fraction of the system prompt's word 5-grams found in the answer that counts as a leak.
    pub overlap_threshold: f32,
    /// Phrases that must not appear in answers (case- and accent-insensitive).
    pub deny: Vec<String>,
    pub deny_action: OutputAction,
}

impl Default for OutputPolicy {
    fn default() -> Self {
        OutputPolicy {
            enabled: true,
            pii: OutputAction::Mask,
            leakage: OutputAction::Block,
            canary: true,
            overlap_threshold: 0.5,
            deny: Vec::new(),
            deny_action: OutputAction::Mask,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub pii: PiiPolicy,
    pub injection: InjectionPolicy,
    pub output: OutputPolicy,
}

impl Policy {
    /// Checks values; each problem names its key (relative to the policy).
    pub fn validate(&self) -> Result<(), GuardError> {
        let mut problems = Vec::new();
        for k in self.pii.entities.keys() {
            if let Err(e) = k.parse::<EntityType>() {
                problems.push(format!("pii.entities.{k}: {e}"));
            }
        }
        let unit = |v: f32, key: &str, problems: &mut Vec<String>| {
            if !(0.0..=1.0).contains(&v) || v.is_nan() {
                problems.push(format!("{key} must be between 0 and 1, got {v}"));
            }
        };
        unit(self.pii.min_score, "pii.min_score", &mut problems);
        unit(
            self.injection.threshold,
            "injection.threshold",
            &mut problems,
        );
        unit(
            self.injection.document_threshold,
            "injection.document_threshold",
            &mut problems,
        );
        unit(
            self.output.overlap_threshold,
            "output.overlap_threshold",
            &mut problems,
        );
        if self.output.deny.iter().any(|d| d.trim().is_empty()) {
            problems.push("output.deny must not contain empty phrases".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(GuardError::Policy(problems.join("; ")))
        }
    }

    /// The action for one entity type.
    pub fn action(&self, kind: EntityType) -> Action {
        self.pii
            .entities
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(kind.as_str()))
            .map_or(self.pii.action, |(_, a)| *a)
    }

    /// Reads a policy from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, GuardError> {
        let p: Policy = toml::from_str(text).map_err(|e| GuardError::Policy(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }
}
