import Foundation
@testable import Tessera
import TesseraFFI
import XCTest

#if canImport(CoreImage)
import CoreGraphics
import CoreImage
import ImageIO
#endif

private let aliceUri = "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Example"
private let carolUri = "otpauth://totp/Example:carol?secret=KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU&issuer=Example"

/// Adding accounts from QR codes: the core reads grey pixels, the wrapper
/// decodes image files with ImageIO first.
final class QRImageTests: XCTestCase {
    func testPixelsOfTheWrongLengthAreRefused() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        for length in [0, 99, 101] {
            let error = await caughtError {
                try await client.addFromQrPixels(width: 10, height: 10, grey: Data(count: length))
            }
            guard case .invalidImage? = error else {
                XCTFail("\(length) bytes for 10 × 10 pixels: got \(String(describing: error))")
                continue
            }
        }
    }

    func testABlankImageHasNoQRCode() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let error = await caughtError {
            try await client.addFromQrPixels(width: 200, height: 200, grey: Data(repeating: 255, count: 200 * 200))
        }
        guard case .invalidImage? = error else {
            return XCTFail("got \(String(describing: error))")
        }
        let accounts = try await client.accounts()
        XCTAssertTrue(accounts.isEmpty)
    }

    #if canImport(CoreImage)
    func testAQRCodeInGreyPixelsAddsItsAccount() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let code = try TestQRCode(aliceUri)
        let added = try await client.addFromQrPixels(
            width: UInt32(code.size),
            height: UInt32(code.size),
            grey: code.grey()
        )
        XCTAssertEqual(added.map(\.account.label), ["alice"])
    }

    func testAPNGOfAQRCodeAddsItsAccount() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let code = try TestQRCode(aliceUri)
        let png = try code.png(light: [255, 255, 255, 255])
        let added = try await client.addFromQrImage(data: png)
        XCTAssertEqual(added.map(\.account.label), ["alice"])
    }

    func testATransparentBackgroundCountsAsWhite() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        // Transparent black around black modules: read as black, the whole
        // image would be one dark square.
        let code = try TestQRCode(carolUri)
        let png = try code.png(light: [0, 0, 0, 0])
        let added = try await client.addFromQrImage(data: png)
        XCTAssertEqual(added.map(\.account.label), ["carol"])
    }

    func testAFileThatIsNoImageIsRefused() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let error = await caughtError { try await client.addFromQrImage(data: Data("not an image".utf8)) }
        guard case .invalidImage? = error else {
            return XCTFail("got \(String(describing: error))")
        }
    }

    func testAnImageOver40MegapixelsIsRefusedBeforeItIsDecoded() async throws {
        let (client, _, _) = try await makeUnlockedClient()
        let png = try blankPNG(width: 8_000, height: 5_001)
        let error = await caughtError { try await client.addFromQrImage(data: png) }
        guard case let .invalidImage(reason)? = error else {
            return XCTFail("got \(String(describing: error))")
        }
        XCTAssertTrue(reason.contains("40 megapixels"), reason)
    }
    #endif
}

#if canImport(CoreImage)
/// A QR code as a test image: 8 pixels per module, with the 4-module quiet
/// zone QR readers expect around it.
private struct TestQRCode {
    /// Pixels per side.
    let size: Int
    /// Whether each pixel is dark, row by row from the top.
    let dark: [Bool]

    /// Encodes `text` with CoreImage's QR generator.
    init(_ text: String) throws {
        let filter = try XCTUnwrap(CIFilter(name: "CIQRCodeGenerator"))
        filter.setValue(Data(text.utf8), forKey: "inputMessage")
        filter.setValue("M", forKey: "inputCorrectionLevel")
        let output = try XCTUnwrap(filter.outputImage)
        let modules = try XCTUnwrap(CIContext().createCGImage(output, from: output.extent))

        // The generator's image has one pixel per module; read them as grey
        // the way the wrapper reads pictures.
        let count = modules.width
        let grey = [UInt8](try GreyImage(image: modules).pixels)

        let scale = 8
        let quietZone = 4
        let size = (count + 2 * quietZone) * scale
        self.size = size
        dark = (0..<size * size).map { index in
            let row = index / size / scale - quietZone
            let column = index % size / scale - quietZone
            guard (0..<count).contains(row), (0..<count).contains(column) else {
                return false
            }
            return grey[row * count + column] < 128
        }
    }

    /// The code as grey pixels: 0 for dark, 255 for light.
    func grey() -> Data {
        Data(dark.map { isDark -> UInt8 in isDark ? 0 : 255 })
    }

    /// A PNG of the code: dark modules opaque black, light ones the RGBA
    /// colour `light` (not premultiplied).
    func png(light: [UInt8]) throws -> Data {
        let black: [UInt8] = [0, 0, 0, 255]
        let rgba = dark.flatMap { $0 ? black : light }
        let provider = try XCTUnwrap(CGDataProvider(data: Data(rgba) as CFData))
        let image = try XCTUnwrap(
            CGImage(
                width: size,
                height: size,
                bitsPerComponent: 8,
                bitsPerPixel: 32,
                bytesPerRow: size * 4,
                space: CGColorSpaceCreateDeviceRGB(),
                bitmapInfo: CGBitmapInfo(rawValue: CGImageAlphaInfo.last.rawValue),
                provider: provider,
                decode: nil,
                shouldInterpolate: false,
                intent: .defaultIntent
            )
        )
        return try encodePNG(image)
    }
}

/// A white PNG of `width` × `height` pixels.
private func blankPNG(width: Int, height: Int) throws -> Data {
    let context = try XCTUnwrap(
        CGContext(
            data: nil,
            width: width,
            height: height,
            bitsPerComponent: 8,
            bytesPerRow: width,
            space: CGColorSpaceCreateDeviceGray(),
            bitmapInfo: CGImageAlphaInfo.none.rawValue
        )
    )
    context.setFillColor(gray: 1, alpha: 1)
    context.fill(CGRect(x: 0, y: 0, width: width, height: height))
    return try encodePNG(try XCTUnwrap(context.makeImage()))
}

/// `image` encoded as PNG by ImageIO.
private func encodePNG(_ image: CGImage) throws -> Data {
    let data = NSMutableData()
    let destination = try XCTUnwrap(CGImageDestinationCreateWithData(data as CFMutableData, "public.png" as CFString, 1, nil))
    CGImageDestinationAddImage(destination, image, nil)
    XCTAssertTrue(CGImageDestinationFinalize(destination), "PNG encoding failed")
    return data as Data
}
#endif
