package org.tessera

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

/**
 * [argbToGrey], which `QrImages` applies to a decoded bitmap's pixels: the luma weights, and
 * transparency drawn over white.
 */
class ArgbToGreyTest {

    private fun grey(vararg argb: Long): List<Int> =
        argbToGrey(IntArray(argb.size) { argb[it].toInt() }).map { it.toInt() and 0xFF }

    @Test
    fun `opaque pixels weigh red, green and blue as 77, 150 and 29 out of 256`() {
        assertEquals(
            listOf(0, 255, 76, 149, 28, 128),
            grey(0xFF000000, 0xFFFFFFFF, 0xFFFF0000, 0xFF00FF00, 0xFF0000FF, 0xFF808080),
        )
        assertEquals(listOf((77 * 0x12 + 150 * 0x34 + 29 * 0x56) shr 8), grey(0xFF123456))
    }

    @Test
    fun `transparent pixels are white, half transparent ones half way to white`() {
        assertEquals(listOf(255, 255, 255), grey(0x00000000, 0x00FF0000, 0x00123456))
        assertEquals(listOf(127, 255), grey(0x80000000, 0x80FFFFFF))
        assertEquals(listOf(191), grey(0x80808080)) // (128 * 128 + 255 * 127) / 255
    }

    @Test
    fun `one grey byte per pixel, in order`() {
        assertArrayEquals(ByteArray(0), argbToGrey(IntArray(0)))
        val row = IntArray(1000) { if (it % 2 == 0) 0xFF000000.toInt() else 0xFFFFFFFF.toInt() }
        val expected = ByteArray(1000) { if (it % 2 == 0) 0 else 0xFF.toByte() }
        assertArrayEquals(expected, argbToGrey(row))
    }
}
