//! Reading QR codes from images (PNG or JPEG screenshots and photos).
//!
//! Pure Rust (`image` to decode, `rqrr` to find and read codes), so the
//! desktop and the mobile apps share it.

/// Why an image gave no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// Not a PNG or JPEG that could be decoded.
    #[error("not a PNG or JPEG image that can be read ({0})")]
    NotAnImage(String),
    /// Bigger than [`MAX_PIXELS`].
    #[error("the image is too large ({width}x{height}); crop it to the QR code")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The image holds no QR code that could be located.
    #[error("no QR code found (crop to the code and try a sharper image)")]
    NotFound,
    /// A QR code was found but could not be read.
    #[error("a QR code was found but could not be read ({0})")]
    Unreadable(String),
}

/// The largest image decoded (40 megapixels): bigger ones are refused rather
/// than allowed to exhaust memory.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Decodes every QR code in the image, in the order found.
pub fn decode_image(bytes: &[u8]) -> Result<Vec<String>, QrError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| QrError::NotAnImage(e.to_string()))?;
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| QrError::NotAnImage(e.to_string()))?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(QrError::TooLarge { width, height });
    }
    let image = image::load_from_memory(bytes)
        .map_err(|e| QrError::NotAnImage(e.to_string()))?
        .to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        image.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NotFound);
    }
    grids
        .iter()
        .map(|grid| {
            grid.decode()
                .map(|(_, text)| text)
                .map_err(|e| QrError::Unreadable(e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(
            decode_image(b"not an image"),
            Err(QrError::NotAnImage(_))
        ));
        assert!(matches!(decode_image(&[]), Err(QrError::NotAnImage(_))));
    }

    #[test]
    fn a_blank_image_has_no_code() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255u8]));
        let mut png = Vec::new();
        blank
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(decode_image(&png), Err(QrError::NotFound));
    }
}
