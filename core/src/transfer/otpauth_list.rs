//! Text with one `otpauth://` URI per line. Blank lines and lines starting
//! with `#` are skipped. Each bad line is refused on its own; the others are
//! imported. Export is lossless for every account with codes (URIs keep
//! unknown parameters), one URI per line.

use zeroize::Zeroizing;

use super::{
    Export, Exported, Format, Import, ImportBatch, Loss, TransferError, check_size, now_secs,
    plan_export,
};
use crate::account::Account;
use crate::otpauth::OtpauthUri;

/// The otpauth URI list format.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtpauthList;

impl Import for OtpauthList {
    fn import(&self, bytes: &[u8], _password: Option<&str>) -> Result<ImportBatch, TransferError> {
        check_size(bytes)?;
        let text = std::str::from_utf8(bytes).map_err(|_| TransferError::Malformed {
            format: Format::OtpauthList,
            reason: "the file is not UTF-8 text".into(),
        })?;
        let mut batch = ImportBatch::default();
        let now = now_secs();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim().trim_start_matches('\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match OtpauthUri::parse(line) {
                Ok(parsed) => batch.accounts.push(Account::from_uri(parsed.uri, now)),
                Err(e) => batch.reject(index, format!("line {}: {e}", index + 1)),
            }
        }
        Ok(batch)
    }
}

impl Export for OtpauthList {
    fn export(
        &self,
        accounts: &[Account],
        _password: Option<&str>,
        force: bool,
    ) -> Result<Exported, TransferError> {
        let (kept, warnings) = plan_export(accounts, force, true, |_| Loss::None)?;
        let uris: Vec<Zeroizing<String>> = kept.iter().filter_map(|a| a.to_uri()).collect();
        Ok(Exported {
            bytes: super::join_lines(&uris),
            warnings,
        })
    }
}
