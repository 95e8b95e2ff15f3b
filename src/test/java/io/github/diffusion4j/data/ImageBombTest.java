package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A PNG whose header declares a huge image (a decompression bomb: a few bytes on disk, gigabytes once decoded) is
 * refused from its header, naming the file and the size, before the decoder allocates anything; a small PNG built
 * the same way still decodes.
 */
class ImageBombTest {
    @Test void aHugeDeclaredSizeIsRefusedBeforeDecoding(@TempDir Path tmp) throws IOException {
        Path bomb = Files.write(tmp.resolve("bomb.png"), png(100_000, 100_000, new byte[0]));
        DatasetException e = assertThrows(DatasetException.class, () -> Images.decode(bomb));
        assertTrue(e.getMessage().contains("100000x100000") && e.getMessage().contains(bomb.toString()), e.getMessage());

        // 2x1 greyscale, one filter byte per row: the same writer makes a file that decodes
        Path ok = Files.write(tmp.resolve("ok.png"), png(2, 1, new byte[] {0, 10, (byte) 200}));
        var img = Images.decode(ok);
        assertEquals(2, img.getWidth());
        assertEquals(1, img.getHeight());
    }

    /** An 8-bit greyscale PNG of the given size whose IDAT holds {@code raw} (rows with their filter bytes), deflated. */
    static byte[] png(int w, int h, byte[] raw) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(ihdr);
        d.writeInt(w);
        d.writeInt(h);
        d.write(new byte[] {8, 0, 0, 0, 0});   // bit depth 8, greyscale, deflate, adaptive filtering, no interlace
        chunk(out, "IHDR", ihdr.toByteArray());
        Deflater z = new Deflater();
        z.setInput(raw);
        z.finish();
        byte[] buf = new byte[1024];
        int n = z.deflate(buf);
        chunk(out, "IDAT", java.util.Arrays.copyOf(buf, n));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.writeInt(data.length);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
