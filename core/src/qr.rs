//! Reading QR codes from images: grey pixels ([`decode_grey`], what the
//! mobile apps pass after decoding a picture with the platform's own image
//! decoders) or, with the `image-files` feature, PNG and JPEG files
//! (`decode_image`, for the desktop).
//!
//! Pure Rust (`quircs` finds and reads the codes; `image` decodes files), so
//! every platform reads codes the same way.

/// Why an image gave no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// Not an image that could be decoded, or pixels that do not make one.
    #[error("not an image that can be read ({0})")]
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

/// The largest image read (40 megapixels): bigger ones are refused rather
/// than allowed to exhaust memory.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Decodes every QR code in a grey image, in the order found: `grey` holds
/// one byte per pixel (0 black to 255 white), row by row, `width × height`
/// bytes.
pub fn decode_grey(width: u32, height: u32, grey: &[u8]) -> Result<Vec<String>, QrError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(QrError::TooLarge { width, height });
    }
    if pixels == 0 || grey.len() as u64 != pixels {
        return Err(QrError::NotAnImage(format!(
            "{} bytes of grey pixels for a {width}x{height} image, which needs {pixels}",
            grey.len()
        )));
    }
    let mut decoder = quircs::Quirc::default();
    let codes: Vec<_> = decoder
        .identify(width as usize, height as usize, grey)
        .collect();
    if codes.is_empty() {
        return Err(QrError::NotFound);
    }
    codes
        .into_iter()
        .map(|code| {
            let data = code
                .map_err(|e| QrError::Unreadable(e.to_string()))?
                .decode()
                .map_err(|e| QrError::Unreadable(e.to_string()))?;
            String::from_utf8(data.payload)
                .map_err(|_| QrError::Unreadable("the code does not hold text".into()))
        })
        .collect()
}

/// Decodes every QR code in a PNG or JPEG file, in the order found.
#[cfg(feature = "image-files")]
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
    decode_grey(image.width(), image.height(), image.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_pixels_must_fill_the_image() {
        assert!(matches!(
            decode_grey(4, 4, &[255; 15]),
            Err(QrError::NotAnImage(_))
        ));
        assert!(matches!(
            decode_grey(0, 0, &[]),
            Err(QrError::NotAnImage(_))
        ));
        assert_eq!(
            decode_grey(100_000, 100_000, &[]),
            Err(QrError::TooLarge {
                width: 100_000,
                height: 100_000
            })
        );
        assert_eq!(decode_grey(64, 64, &[255; 64 * 64]), Err(QrError::NotFound));
    }

    #[cfg(feature = "image-files")]
    #[test]
    fn refuses_what_is_not_an_image() {
        assert!(matches!(
            decode_image(b"not an image"),
            Err(QrError::NotAnImage(_))
        ));
        assert!(matches!(decode_image(&[]), Err(QrError::NotAnImage(_))));
    }

    #[cfg(feature = "image-files")]
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
