package io.github.diffusion4j.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Images (PNG, JPEG, BMP, GIF) in a folder, as RGB.
 *
 * <p><b>Labels.</b> If the folder has sub-folders, each sub-folder is a class (names sorted, label = index) and
 * holds that class's images, searched recursively; an image directly in the root is then an error (it would have
 * no class). Without sub-folders the dataset is unlabelled. Hidden files and folders (name starting with a dot)
 * are skipped. Files are ordered by path, so indices are stable.
 *
 * <p><b>Preprocessing.</b> The shorter side is scaled to the image size (area averaging when shrinking, bilinear
 * when enlarging), then the centre square is cropped; greyscale images are expanded to RGB and transparency is
 * composited over white (see {@link Images}).
 *
 * <p><b>Decoding.</b> When all images fit in {@code cacheBytes} at the target size (8-bit), every file is decoded
 * once at construction (in parallel): a corrupt file is reported at once and training never waits on a decoder. Otherwise images
 * are decoded on demand and the most recently used ones kept in an LRU cache of that size; a corrupt file is then
 * reported when it is first read (the {@link DataLoader} re-throws it in the training thread). Either way an
 * unreadable file raises a {@link DatasetException} naming it.
 */
public final class ImageFolderDataset implements Dataset {
    /** File name suffixes read (lower case). */
    public static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");
    /** Default decoded-image budget: 512 MiB. */
    public static final long DEFAULT_CACHE_BYTES = 512L << 20;

    private final Path root;
    private final List<Path> files;
    private final int[] labels;
    private final List<String> classNames;
    private final int imageSize;
    private final int imageBytes;
    private final byte[][] eager;                 // all images, or null when lazy
    private final Map<Integer, byte[]> lru;       // lazy mode cache (access order), guarded by itself

    /** Opens {@code dir} with the default cache budget. */
    public static ImageFolderDataset open(Path dir, int imageSize) {
        return new ImageFolderDataset(dir, imageSize, DEFAULT_CACHE_BYTES);
    }

    public ImageFolderDataset(Path dir, int imageSize, long cacheBytes) {
        if (imageSize <= 0) throw new IllegalArgumentException("image size must be positive, got " + imageSize);
        if (!Files.isDirectory(dir)) throw new DatasetException("image folder " + dir + " does not exist");
        this.root = dir;
        this.imageSize = imageSize;
        this.imageBytes = 3 * imageSize * imageSize;
        List<Path> subdirs = new ArrayList<>();
        List<Path> rootImages = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s.sorted()::iterator) {
                if (hidden(p)) continue;
                if (Files.isDirectory(p)) subdirs.add(p);
                else if (isImage(p)) rootImages.add(p);
            }
        } catch (IOException e) {
            throw new DatasetException("cannot list image folder " + dir + ": " + Images.oneLine(e), e);
        }
        List<Path> all = new ArrayList<>();
        List<Integer> labelList = new ArrayList<>();
        List<String> names = new ArrayList<>();
        if (subdirs.isEmpty()) {
            all.addAll(rootImages);
            for (int i = 0; i < all.size(); i++) labelList.add(-1);
        } else {
            if (!rootImages.isEmpty()) {
                throw new DatasetException("image " + rootImages.get(0) + " is outside the class sub-folders of " + dir
                        + " (put every image in a class folder, or use a folder without sub-folders)");
            }
            for (Path sub : subdirs) {
                int label = names.size();
                names.add(sub.getFileName().toString());
                for (Path p : listImagesRecursively(sub)) {
                    all.add(p);
                    labelList.add(label);
                }
            }
        }
        if (all.isEmpty()) throw new DatasetException("image folder " + dir + " contains no images (" + String.join(", ", EXTENSIONS) + ")");
        this.files = List.copyOf(all);
        this.labels = labelList.stream().mapToInt(Integer::intValue).toArray();
        this.classNames = List.copyOf(names);
        if ((long) files.size() * imageBytes <= cacheBytes) {
            eager = new byte[files.size()][];
            RuntimeException[] errors = new RuntimeException[files.size()];
            java.util.stream.IntStream.range(0, files.size()).parallel().forEach(i -> {
                try {
                    eager[i] = decode(i);
                } catch (RuntimeException e) {
                    errors[i] = e;
                }
            });
            for (RuntimeException e : errors) if (e != null) throw e; // the first bad file in order, deterministically
            lru = null;
        } else {
            eager = null;
            int capacity = (int) Math.max(1, Math.min(Integer.MAX_VALUE, cacheBytes / imageBytes));
            lru = new LinkedHashMap<>(16, 0.75f, true) {
                @Override protected boolean removeEldestEntry(Map.Entry<Integer, byte[]> e) { return size() > capacity; }
            };
        }
    }

    private static List<Path> listImagesRecursively(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(p -> Files.isRegularFile(p) && isImage(p) && !hiddenBelow(dir, p)).sorted().toList();
        } catch (IOException e) {
            throw new DatasetException("cannot list image folder " + dir + ": " + Images.oneLine(e), e);
        }
    }

    private static boolean hidden(Path p) { return p.getFileName().toString().startsWith("."); }

    private static boolean hiddenBelow(Path base, Path p) {
        for (Path part : base.relativize(p)) if (part.toString().startsWith(".")) return true;
        return false;
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String e : EXTENSIONS) if (n.endsWith(e)) return true;
        return false;
    }

    private byte[] decode(int index) {
        float[] f = Images.load(files.get(index), imageSize, 3);
        byte[] b = new byte[f.length];
        for (int i = 0; i < f.length; i++) b[i] = (byte) Math.round((f[i] + 1f) * 127.5f);
        return b;
    }

    private byte[] pixels(int index) {
        if (index < 0 || index >= files.size()) {
            throw new IndexOutOfBoundsException("image " + index + " outside [0, " + files.size() + ")");
        }
        if (eager != null) return eager[index];
        synchronized (lru) {
            byte[] b = lru.get(index);
            if (b != null) return b;
        }
        byte[] b = decode(index);
        synchronized (lru) {
            lru.put(index, b);
        }
        return b;
    }

    /** Whether all images were decoded at construction. */
    public boolean eager() { return eager != null; }

    /** The file behind image {@code index}. */
    public Path file(int index) { return files.get(index); }

    public Path root() { return root; }

    @Override public String name() { return "folder:" + root.getFileName(); }

    @Override public int size() { return files.size(); }

    @Override public int channels() { return 3; }

    @Override public int imageSize() { return imageSize; }

    @Override public int numClasses() { return classNames.size(); }

    @Override public List<String> classNames() { return classNames; }

    @Override public int label(int index) {
        if (index < 0 || index >= files.size()) {
            throw new IndexOutOfBoundsException("image " + index + " outside [0, " + files.size() + ")");
        }
        return labels[index];
    }

    @Override public void image(int index, float[] out, int outOffset) {
        byte[] b = pixels(index);
        for (int i = 0; i < b.length; i++) out[outOffset + i] = (b[i] & 0xFF) / 127.5f - 1f;
    }
}
