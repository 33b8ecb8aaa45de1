#if canImport(ImageIO)
import CoreGraphics
import Foundation
import ImageIO

/// An image file decoded for the core's QR reader: one grey byte per pixel
/// (0 black … 255 white), row by row from the top.
///
/// The Rust library reads QR codes from grey pixels only (it carries no PNG
/// or JPEG decoder, to stay small), so decoding is ImageIO's: every format it
/// reads works, HEIC photos and GIF or TIFF screenshots included.
struct GreyImage {
    /// The largest image decoded, in pixels: 40 megapixels, above any phone
    /// photo or screenshot. It bounds the memory a decoded file may take.
    static let maxPixels = 40_000_000

    /// Pixels per row.
    let width: UInt32
    /// Rows.
    let height: UInt32
    /// `width × height` bytes, one per pixel.
    let pixels: Data

    /// Decodes the first image in `data`.
    ///
    /// Transparent pixels come out white: screenshots of QR codes often
    /// have a transparent background whose colour channels hold black.
    ///
    /// - Parameter data: the file's bytes.
    /// - Throws: ``TesseraClientError/invalidImage(reason:)`` when `data` is
    ///   no image ImageIO reads, or has more than ``maxPixels``.
    init(decoding data: Data) throws {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil),
            let image = CGImageSourceCreateImageAtIndex(source, 0, nil)
        else {
            throw TesseraClientError.invalidImage(reason: "the file is not an image Tessera can read")
        }
        try self.init(image: image)
    }

    /// Draws `image` in grey, on white.
    ///
    /// - Throws: ``TesseraClientError/invalidImage(reason:)`` when it has
    ///   more than ``maxPixels`` or cannot be drawn.
    init(image: CGImage) throws {
        let width = image.width
        let height = image.height
        // ImageIO decodes when the image is drawn, so nothing large has been
        // allocated yet when a huge image is refused here.
        guard width > 0, height > 0, width * height <= Self.maxPixels else {
            throw TesseraClientError.invalidImage(reason: "the image is larger than 40 megapixels")
        }
        var pixels = Data(count: width * height)
        let drawn = pixels.withUnsafeMutableBytes { buffer -> Bool in
            guard
                let context = CGContext(
                    data: buffer.baseAddress,
                    width: width,
                    height: height,
                    bitsPerComponent: 8,
                    bytesPerRow: width,
                    space: CGColorSpaceCreateDeviceGray(),
                    bitmapInfo: CGImageAlphaInfo.none.rawValue
                )
            else {
                return false
            }
            let bounds = CGRect(x: 0, y: 0, width: width, height: height)
            // White underneath, so transparency blends to white, not black.
            context.setFillColor(gray: 1, alpha: 1)
            context.fill(bounds)
            context.draw(image, in: bounds)
            return true
        }
        guard drawn else {
            throw TesseraClientError.invalidImage(reason: "the image could not be converted to grey")
        }
        // Both fit: their product is at most `maxPixels`.
        self.width = UInt32(width)
        self.height = UInt32(height)
        self.pixels = pixels
    }
}
#endif
