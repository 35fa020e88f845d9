//! Keeping the systems under test measurable: between phases (and after any failed run) each
//! system is checked (daemons alive, the core answers pings through it); one that has broken
//! down gets its daemon logs saved next to the report and is brought back (strongSwan
//! re-initiates, others restart their daemons), and the breakdown is kept as an [`Incident`] the
//! JSON and the table show.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::systems::SystemUnderTest;

/// A system that broke down during the run.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// The system's label.
    pub system: String,
    /// When it was noticed: before which phase, or during which run.
    pub when: String,
    /// What was wrong.
    pub problem: String,
    /// What was done to bring it back, or why that failed.
    pub recovery: String,
    /// Whether it worked again afterwards.
    pub recovered: bool,
    /// The daemon logs saved at that moment (paths relative to the output directory).
    pub logs: Vec<String>,
}

/// The health checker of one run.
#[derive(Debug)]
pub struct Health<'a> {
    out: &'a Path,
    incidents: Vec<Incident>,
}

impl<'a> Health<'a> {
    /// A checker that saves logs under `out/logs/`.
    pub fn new(out: &'a Path) -> Self {
        Health {
            out,
            incidents: Vec::new(),
        }
    }

    /// Checks every system before `phase`.
    pub fn check_all(
        &mut self,
        systems: &mut [SystemUnderTest<'_>],
        labels: &[String],
        phase: &str,
    ) {
        for (sut, label) in systems.iter_mut().zip(labels) {
            self.check_one(sut, label, &format!("before the {phase} phase"));
        }
    }

    /// Checks one system; if it has broken down, saves its logs, brings it back and records the
    /// incident. Returns whether it had broken down and works again (so a failed run is worth
    /// repeating).
    pub fn check_one(&mut self, sut: &mut SystemUnderTest<'_>, label: &str, when: &str) -> bool {
        let Some(problem) = sut.problem() else {
            return false;
        };
        eprintln!("  {label} broke down ({when}): {problem}");
        let logs = self.save_logs(sut, label);
        let (recovery, recovered) = match sut.recover() {
            Ok(how) => match sut.problem() {
                None => (how, true),
                Some(still) => (format!("{how}, but {still}"), false),
            },
            Err(e) => (format!("could not bring it back: {e}"), false),
        };
        eprintln!("  {label}: {recovery}");
        self.incidents.push(Incident {
            system: label.to_owned(),
            when: when.to_owned(),
            problem,
            recovery,
            recovered,
            logs,
        });
        recovered
    }

    /// Writes the system's daemon logs to `logs/<label>-<incident>-<daemon>.log`.
    fn save_logs(&self, sut: &SystemUnderTest<'_>, label: &str) -> Vec<String> {
        let dir = self.out.join("logs");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("  cannot create {}: {e}", dir.display());
            return Vec::new();
        }
        let n = self.incidents.len() + 1;
        let mut saved = Vec::new();
        for (daemon, text) in sut.logs() {
            let name = file_name(&format!("{label}-{n}-{daemon}.log"));
            let path: PathBuf = dir.join(&name);
            match std::fs::write(&path, text) {
                Ok(()) => saved.push(format!("logs/{name}")),
                Err(e) => eprintln!("  cannot write {}: {e}", path.display()),
            }
        }
        saved
    }

    /// The incidents, once the run is over.
    pub fn into_incidents(self) -> Vec<Incident> {
        self.incidents
    }
}

/// `text` with everything but letters, digits, `-` and `.` replaced by `_` (labels contain `/`).
fn file_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_names_stay_in_the_directory() {
        assert_eq!(
            file_name("strongswan/aes256gcm16-1-charon-c0.log"),
            "strongswan_aes256gcm16-1-charon-c0.log"
        );
        assert_eq!(file_name("../x y"), ".._x_y");
    }
}
