//! QR codes: reading them from image files, drawing them in the terminal.

use std::path::Path;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::error::CliError;

/// Decodes every QR code found in a PNG or JPEG file, in reading order.
pub fn decode_image(path: &Path) -> Result<Vec<String>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    tessera_core::qr::decode_image(&bytes)
        .map_err(|e| CliError::bad_input(format!("{}: {e}", path.display())))
}

/// Draws `text` as a QR code with Unicode half blocks (two rows per line),
/// light on dark so it scans from a dark terminal.
pub fn render_terminal(text: &str) -> Result<String, CliError> {
    let code = QrCode::new(text.as_bytes())
        .map_err(|e| CliError::failure(format!("cannot make a QR code: {e}")))?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}
