package org.tessera.android

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.tessera.AddResult
import org.tessera.TesseraClient
import org.tessera.TesseraException
import org.tessera.argbToGrey

/**
 * QR codes in pictures (a screenshot, a photo): Android decodes the picture, the core finds and
 * reads the codes in its grey pixels ([TesseraClient.addFromQrPixels]).
 */
object QrImages {
    /** The largest picture decoded, in pixels: 40 megapixels, the core's own limit. */
    const val MAX_PIXELS: Long = 40_000_000

    /**
     * Adds every account whose QR code is in a picture. All or nothing. Decoding runs on
     * [Dispatchers.Default].
     *
     * @param image the bytes of a picture in any format [BitmapFactory] reads (PNG, JPEG, WebP,
     *   HEIF, …).
     * @throws TesseraException.InvalidImage when it cannot be decoded, is larger than
     *   [MAX_PIXELS], or holds no readable QR code.
     */
    suspend fun addFromQrImage(client: TesseraClient, image: ByteArray): List<AddResult> {
        val picture = withContext(Dispatchers.Default) { decodeGrey(image) }
        return client.addFromQrPixels(picture.width, picture.height, picture.grey)
    }

    private class GreyPicture(val width: Int, val height: Int, val grey: ByteArray)

    private fun decodeGrey(image: ByteArray): GreyPicture {
        // The size first, from the header alone, so that a huge picture is refused before its
        // pixels take memory.
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(image, 0, image.size, bounds)
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
            throw TesseraException.InvalidImage("not a picture Android can decode")
        }
        if (bounds.outWidth.toLong() * bounds.outHeight > MAX_PIXELS) {
            throw TesseraException.InvalidImage(
                "the picture is too large (${bounds.outWidth}x${bounds.outHeight}); crop it to the QR code",
            )
        }
        val options = BitmapFactory.Options().apply { inPreferredConfig = Bitmap.Config.ARGB_8888 }
        val bitmap = try {
            BitmapFactory.decodeByteArray(image, 0, image.size, options)
        } catch (e: OutOfMemoryError) {
            // Below the pixel limit a picture can still outgrow a small app heap; that one
            // allocation failing leaves the app fine.
            throw TesseraException.InvalidImage("the picture is too large for this device's memory; crop it")
        } ?: throw TesseraException.InvalidImage("not a picture Android can decode")
        try {
            val width = bitmap.width
            val height = bitmap.height
            val grey = ByteArray(width * height)
            // Row by row: all the ARGB pixels at once would take four times the grey ones.
            val row = IntArray(width)
            for (y in 0 until height) {
                bitmap.getPixels(row, 0, width, 0, y, width, 1)
                argbToGrey(row).copyInto(grey, y * width)
            }
            return GreyPicture(width, height, grey)
        } finally {
            // The pixels live in native memory until the bitmap is collected; a large one is
            // better freed now.
            bitmap.recycle()
        }
    }
}
