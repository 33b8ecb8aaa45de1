package org.tessera

/**
 * Grey pixels for [TesseraClient.addFromQrPixels] from packed ARGB pixels (`0xAARRGGBB`, as
 * Android's `Bitmap.getPixels` and Java's `BufferedImage.getRGB` give them), in the same order.
 *
 * Grey is `(77 R + 150 G + 29 B) >> 8`, the luma weights the Tessera apps all use. A pixel is
 * drawn over white by its alpha, so a transparent pixel is white: QR screenshots often have a
 * transparent background around black modules, which would otherwise read as black on black.
 */
fun argbToGrey(pixels: IntArray): ByteArray {
    val grey = ByteArray(pixels.size)
    for (i in pixels.indices) {
        val argb = pixels[i]
        val alpha = (argb ushr 24) and 0xFF
        val red = (argb shr 16) and 0xFF
        val green = (argb shr 8) and 0xFF
        val blue = argb and 0xFF
        val luma = (77 * red + 150 * green + 29 * blue) shr 8
        grey[i] = ((luma * alpha + 255 * (255 - alpha)) / 255).toByte()
    }
    return grey
}
