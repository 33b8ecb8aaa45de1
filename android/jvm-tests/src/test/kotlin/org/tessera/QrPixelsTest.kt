package org.tessera

import com.google.zxing.BarcodeFormat
import com.google.zxing.qrcode.QRCodeWriter
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import javax.imageio.ImageIO
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * QR codes read by the core from grey pixels made as the apps make them: a PNG decoded by the
 * platform (here ImageIO), its ARGB pixels turned grey by [argbToGrey]. The codes are drawn by
 * ZXing, a QR implementation independent of the core's reader.
 */
class QrPixelsTest {

    private suspend fun unlockedClient() =
        TesseraClient.open(offlineConfig(tempDataDir()), InMemoryStorage()).also { it.createVault() }

    /** [text] as a QR code, [size] pixels square with ZXing's quiet zone; dark and light as given. */
    private fun drawQr(text: String, size: Int, dark: Int, light: Int): BufferedImage {
        val modules = QRCodeWriter().encode(text, BarcodeFormat.QR_CODE, size, size)
        val image = BufferedImage(size, size, BufferedImage.TYPE_INT_ARGB)
        for (y in 0 until size) {
            for (x in 0 until size) image.setRGB(x, y, if (modules[x, y]) dark else light)
        }
        return image
    }

    /** Through a PNG file and back, as a picked picture would come. */
    private fun viaPng(image: BufferedImage): BufferedImage {
        val png = ByteArrayOutputStream().also { assertTrue(ImageIO.write(image, "png", it)) }.toByteArray()
        return ImageIO.read(ByteArrayInputStream(png))
    }

    private fun BufferedImage.grey(): ByteArray = argbToGrey(getRGB(0, 0, width, height, null, 0, width))

    @Test
    fun `a QR code in a PNG adds its account`(): Unit = runBlocking {
        val image = viaPng(drawQr(URI, 240, BLACK, WHITE))
        unlockedClient().use { client ->
            val added = client.addFromQrPixels(image.width, image.height, image.grey())
            assertEquals(1, added.size)
            val account = added.single().account
            assertEquals("Example", account.issuer)
            assertEquals("alice@example.com", account.label)
            assertEquals(listOf(account.id), client.codes().map { it.accountId })
        }
    }

    @Test
    fun `transparent pixels count as white`(): Unit = runBlocking {
        // A screenshot-style code: black modules on nothing at all.
        val image = viaPng(drawQr(URI, 240, BLACK, TRANSPARENT))
        unlockedClient().use { client ->
            // With the alpha ignored, the background (transparent black) is as black as the code.
            val argb = image.getRGB(0, 0, image.width, image.height, null, 0, image.width)
            val alphaIgnored = argbToGrey(IntArray(argb.size) { argb[it] or OPAQUE })
            assertThrows<TesseraException.InvalidImage> {
                runBlocking { client.addFromQrPixels(image.width, image.height, alphaIgnored) }
            }
            val added = client.addFromQrPixels(image.width, image.height, image.grey())
            assertEquals("alice@example.com", added.single().account.label)
        }
    }

    @Test
    fun `every code in one picture is added`(): Unit = runBlocking {
        val left = drawQr(URI, 200, BLACK, WHITE)
        val right = drawQr(URI.replace("alice", "bob"), 200, BLACK, WHITE)
        val both = BufferedImage(400, 200, BufferedImage.TYPE_INT_ARGB)
        both.setRGB(0, 0, 200, 200, left.getRGB(0, 0, 200, 200, null, 0, 200), 0, 200)
        both.setRGB(200, 0, 200, 200, right.getRGB(0, 0, 200, 200, null, 0, 200), 0, 200)
        val image = viaPng(both)
        unlockedClient().use { client ->
            val added = client.addFromQrPixels(image.width, image.height, image.grey())
            assertEquals(listOf("alice@example.com", "bob@example.com"), added.map { it.account.label }.sorted())
        }
    }

    private companion object {
        const val URI = "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
        const val BLACK = 0xFF000000.toInt()
        const val WHITE = 0xFFFFFFFF.toInt()
        const val TRANSPARENT = 0
        /** The alpha bits of an ARGB pixel, all set. */
        const val OPAQUE = 0xFF000000.toInt()
    }
}
