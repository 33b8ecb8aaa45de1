//! Keeping the last estimate on disk (it is not secret), so an app starts
//! with corrected codes at once instead of waiting for the network.

use std::path::Path;

use super::estimate::ClockEstimate;

/// The file format version of a saved estimate.
const VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    estimate: ClockEstimate,
}

/// Reads a saved estimate. A missing, unreadable or foreign file gives
/// `Ok(None)` with the reason, never a stale guess: the caller shows the
/// time as unknown and checks it again.
pub fn load(path: &Path) -> Result<Option<ClockEstimate>, String> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    match serde_json::from_slice::<Saved>(&bytes) {
        Ok(saved) if saved.version == VERSION => Ok(Some(saved.estimate)),
        Ok(saved) => Err(format!(
            "{} has version {}, not {VERSION}; ignoring it",
            path.display(),
            saved.version
        )),
        Err(e) => Err(format!("{} is damaged ({e}); ignoring it", path.display())),
    }
}

/// Writes the estimate atomically (temporary file, then rename).
pub fn save(path: &Path, estimate: &ClockEstimate) -> Result<(), String> {
    let saved = Saved {
        version: VERSION,
        estimate: estimate.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::{ClockReading, SourceKind, TimeSample, combine};
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        assert_eq!(load(&path).unwrap(), None);
        let sample = TimeSample {
            source: "ntp://127.0.0.1:1".into(),
            kind: SourceKind::Ntp,
            offset_micros: 90_000_000,
            uncertainty_micros: 1_000,
            round_trip_micros: 10,
            taken_at_micros: 5,
            detail: "stratum 8".into(),
        };
        let estimate = combine(&[sample], &ClockReading::now()).unwrap();
        save(&path, &estimate).unwrap();
        assert_eq!(load(&path).unwrap(), Some(estimate));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(load(&path).unwrap_err().contains("damaged"));
    }
}
