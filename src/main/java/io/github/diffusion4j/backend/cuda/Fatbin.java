package io.github.diffusion4j.backend.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * What a CUDA fat binary (the output of {@code nvcc -fatbin}) contains: which SASS (ELF cubin) and PTX images for
 * which architectures. Used to tell whether a GPU can run our kernels before touching the driver, and by the
 * build tests (this machine has no cuobjdump).
 *
 * <p>Layout (little-endian). NVIDIA does not document it (fatbinary_section.h only describes the wrapper that
 * points to it); this is what nvcc 11 to 13 write, read off the files themselves, and what the open tools that
 * list fatbin contents assume:
 * <pre>
 *   header  u32 magic 0xBA55ED50, u16 version (1), u16 header size (16), u64 size of the entries
 *   entry   u16 kind (1 = PTX, 2 = ELF), u16 flags, u32 entry header size, u64 payload size,
 *           ..., u32 architecture (e.g. 75, 90) at byte 28 of the entry header; the payload follows the
 *           entry header
 * </pre>
 */
public record Fatbin(List<Entry> entries) {
    public static final int MAGIC = 0xBA55ED50;
    public static final int KIND_PTX = 1, KIND_ELF = 2;

    /**
     * One embedded image: its kind, architecture, where its payload starts in the file and how long it is. The
     * payload may be compressed (nvcc compresses larger images; the PTX image usually is).
     */
    public record Entry(int kind, int arch, long payloadOffset, long payloadSize) {
        public boolean isPtx() { return kind == KIND_PTX; }

        public boolean isElf() { return kind == KIND_ELF; }

        @Override public String toString() {
            return (isPtx() ? "compute_" : isElf() ? "sm_" : "kind" + kind + "_") + arch;
        }
    }

    public Fatbin {
        entries = List.copyOf(entries);
    }

    /** Parses a fatbin; throws IllegalArgumentException when the bytes are not one. */
    public static Fatbin parse(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 16 || b.getInt(0) != MAGIC) {
            throw new IllegalArgumentException("not a CUDA fatbin (bad magic)");
        }
        int headerSize = Short.toUnsignedInt(b.getShort(6));
        long fatSize = b.getLong(8);
        long end = headerSize + fatSize;
        if (end > bytes.length) throw new IllegalArgumentException("truncated fatbin: " + end + " > " + bytes.length);
        List<Entry> list = new ArrayList<>();
        long pos = headerSize;
        while (pos + 32 <= end) {
            int p = (int) pos;
            int kind = Short.toUnsignedInt(b.getShort(p));
            long entryHeader = Integer.toUnsignedLong(b.getInt(p + 4));
            long payload = b.getLong(p + 8);
            int arch = b.getInt(p + 28);
            if (entryHeader < 32 || payload < 0) throw new IllegalArgumentException("corrupt fatbin entry at " + pos);
            if (pos + entryHeader + payload > end) throw new IllegalArgumentException("truncated fatbin entry at " + pos);
            list.add(new Entry(kind, arch, pos + entryHeader, payload));
            pos += entryHeader + payload;
        }
        return new Fatbin(list);
    }

    /** Architectures with SASS, ascending (75, 80, ...). */
    public TreeSet<Integer> sassArchs() {
        TreeSet<Integer> s = new TreeSet<>();
        for (Entry e : entries) if (e.isElf()) s.add(e.arch());
        return s;
    }

    /** Architectures with PTX, ascending. */
    public TreeSet<Integer> ptxArchs() {
        TreeSet<Integer> s = new TreeSet<>();
        for (Entry e : entries) if (e.isPtx()) s.add(e.arch());
        return s;
    }

    /**
     * Whether a device of compute capability major.minor can run this fatbin: SASS for sm_XY runs on X.Z with
     * Z >= Y (same major), and PTX for compute_XY can be JIT-compiled for any device of capability >= X.Y.
     */
    public boolean supports(int major, int minor) {
        int cc = major * 10 + minor;
        for (int a : sassArchs()) if (a / 10 == major && a % 10 <= minor) return true;
        for (int a : ptxArchs()) if (a <= cc) return true;
        return false;
    }

    /** E.g. "SASS sm_75 sm_80 sm_86 sm_89 sm_90, PTX compute_90". */
    public String describe() {
        StringBuilder sb = new StringBuilder("SASS");
        for (int a : sassArchs()) sb.append(" sm_").append(a);
        sb.append(", PTX");
        for (int a : ptxArchs()) sb.append(" compute_").append(a);
        return sb.toString();
    }
}
