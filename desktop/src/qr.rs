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

/// Draws `text` as a QR code in a PNG image (black on white, a quiet zone,
/// at least 600 pixels wide so a phone camera reads dense batches).
pub fn render_png(text: &str) -> Result<Vec<u8>, CliError> {
    let code = QrCode::new(text.as_bytes())
        .map_err(|e| CliError::failure(format!("cannot make a QR code: {e}")))?;
    let image = code
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .min_dimensions(600, 600)
        .build();
    let mut png = Vec::new();
    image::DynamicImage::ImageLuma8(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| CliError::failure(format!("cannot encode a PNG image: {e}")))?;
    Ok(png)
}
