//! [`Guard`]: the detectors, built once and shared by every request.

use crate::{
    injection::{InjectionDetector, InjectionReport, Source},
    pii::{Finding, PiiDetector},
    policy::Policy,
    pseudo::{self, Vault},
    text::CharOffsets,
    GuardError,
};

pub struct Guard {
    pub pii: PiiDetector,
    pub injection: InjectionDetector,
}

/// What the detectors found in one text. Spans are byte offsets; [`ScanReport::char_spans`]
/// gives the Unicode-scalar offsets clients see.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub pii: Vec<Finding>,
    pub injection: Option<InjectionReport>,
}

impl ScanReport {
    /// (finding, start, end) with char offsets.
    pub fn char_spans<'a>(&'a self, text: &str) -> Vec<(&'a Finding, usize, usize)> {
        let mut offsets = CharOffsets::new(text);
        self.pii
            .iter()
            .map(|f| {
                let s = offsets.char_at(f.start);
                let e = offsets.char_at(f.end);
                (f, s, e)
            })
            .collect()
    }
}

/// A redacted text, its report and the vault that restores it.
#[derive(Debug)]
pub struct Redacted {
    pub text: String,
    pub report: ScanReport,
    pub vault: Vault,
}

impl Guard {
    pub fn new() -> Result<Self, GuardError> {
        Ok(Guard {
            pii: PiiDetector::new()?,
            injection: InjectionDetector::new()?,
        })
    }

    /// Runs the detectors the policy enables on one text.
    pub fn scan(&self, text: &str, source: Source, policy: &Policy) -> ScanReport {
        let pii = if policy.pii.enabled {
            self.pii
                .scan(text)
                .into_iter()
                .filter(|f| f.score >= policy.pii.min_score)
                .collect()
        } else {
            Vec::new()
        };
        let injection = policy.injection.enabled.then(|| {
            self.injection
                .scan(text, source, policy.injection.threshold_for(source))
        });
        ScanReport { pii, injection }
    }

    /// Scans and applies the PII policy (a `block` entity is an error).
    pub fn redact(
        &self,
        text: &str,
        source: Source,
        policy: &Policy,
    ) -> Result<Redacted, GuardError> {
        let report = self.scan(text, source, policy);
        let mut vault = Vault::new();
        let (redacted, _) = pseudo::redact(text, &report.pii, policy, &mut vault, &[text])?;
        Ok(Redacted {
            text: redacted,
            report,
            vault,
        })
    }
}
