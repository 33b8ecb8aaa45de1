//! QR codes: reading them from screenshots, drawing them in the terminal.

use std::path::Path;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;

use crate::error::CliError;

/// Decodes every QR code found in a PNG or JPEG image, in reading order.
pub fn decode_image(path: &Path) -> Result<Vec<String>, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    let image = image::load_from_memory(&bytes)
        .map_err(|e| {
            CliError::bad_input(format!(
                "{} is not a PNG or JPEG image Tessera can read: {e}",
                path.display()
            ))
        })?
        .to_luma8();
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        image.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(CliError::bad_input(format!(
            "no QR code found in {} (crop to the code and try a sharper screenshot)",
            path.display()
        )));
    }
    let mut texts = Vec::new();
    for grid in grids {
        match grid.decode() {
            Ok((_, text)) => texts.push(text),
            Err(e) => {
                return Err(CliError::bad_input(format!(
                    "a QR code in {} could not be read: {e}",
                    path.display()
                )));
            }
        }
    }
    Ok(texts)
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
