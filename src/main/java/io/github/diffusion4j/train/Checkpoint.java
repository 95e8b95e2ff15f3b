package io.github.diffusion4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.github.diffusion4j.data.DataLoader;
import io.github.diffusion4j.data.Dataset;
import io.github.diffusion4j.io.AtomicDirectory;
import io.github.diffusion4j.io.AtomicFiles;
import io.github.diffusion4j.io.FileFormatException;
import io.github.diffusion4j.io.SafeTensors;
import io.github.diffusion4j.io.StorageException;
import io.github.diffusion4j.nn.Model;
import io.github.diffusion4j.nn.ParamStore;
import io.github.diffusion4j.nn.Presets;
import io.github.diffusion4j.nn.UNet;
import io.github.diffusion4j.tensor.Backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A training checkpoint: {@code <run>/checkpoints/step-NNNNNN/} with {@code model.safetensors} (weights),
 * {@code ema.safetensors} (EMA weights, what {@code sample} uses by default), {@code optimizer.safetensors}
 * (AdamW moments {@code exp_avg.<name>} / {@code exp_avg_sq.<name>}) and {@code config.json} (hyper-parameters,
 * model, schedule, dataset, step, RNG seed, data position). Written to a temporary folder, fsynced and renamed;
 * {@code checkpoints/latest} names the newest.
 */
public final class Checkpoint {
    public static final String DIR = "checkpoints";
    public static final String MODEL = "model.safetensors", EMA = "ema.safetensors", OPTIMIZER = "optimizer.safetensors",
            CONFIG = "config.json";
    static final String FORMAT = "diffusion4j-checkpoint";
    /** The config.json format this version writes and the newest it reads. */
    static final int VERSION = 1;

    /** What config.json says. */
    public record Info(Path dir, TrainConfig config, long step, long adamStep, DataLoader.Position position,
                       int numClasses, java.util.List<String> classNames, long parameters) {}

    private Checkpoint() {}

    public static String folderName(long step) {
        return String.format("step-%06d", step);
    }

    /** Writes a checkpoint of the current state and points {@code latest} at it; returns its folder. */
    public static Path save(Path runDir, TrainConfig cfg, Model model, Ema ema, AdamW adam, long step,
                            DataLoader.Position position, Dataset dataset) throws IOException {
        Path parent = runDir.resolve(DIR);
        String name = folderName(step);
        ParamStore store = model.params();
        Map<String, String> meta = Map.of("format", FORMAT, "step", Long.toString(step), "model", model.name());
        Path dir;
        try {
            dir = write(parent, name, cfg, model, ema, adam, step, position, dataset, store, meta);
            AtomicDirectory.writeLatest(parent, name);
            AtomicDirectory.prune(parent, "step-", cfg.keepCheckpoints);
        } catch (StorageException e) {
            throw e;
        } catch (IOException e) {
            // the staging folder is gone (AtomicDirectory), the earlier checkpoints and the latest pointer intact
            throw StorageException.writing("checkpoint " + parent.resolve(name), e);
        }
        return dir;
    }

    private static Path write(Path parent, String name, TrainConfig cfg, Model model, Ema ema, AdamW adam, long step,
                              DataLoader.Position position, Dataset dataset, ParamStore store, Map<String, String> meta)
            throws IOException {
        Path dir;
        try (AtomicDirectory d = AtomicDirectory.begin(parent, name)) {
            SafeTensors.save(d.path().resolve(MODEL), store, meta);
            SafeTensors.save(d.path().resolve(EMA), store, ema.weights(), meta);
            Map<String, SafeTensors.Entry> opt = new LinkedHashMap<>(SafeTensors.entries(store, adam.firstMoment(), "exp_avg."));
            opt.putAll(SafeTensors.entries(store, adam.secondMoment(), "exp_avg_sq."));
            Map<String, String> optMeta = new HashMap<>(meta);
            optMeta.put("adam_step", Long.toString(adam.step()));
            SafeTensors.write(d.path().resolve(OPTIMIZER), opt, optMeta);
            AtomicFiles.writeString(d.path().resolve(CONFIG), configJson(cfg, model, adam, step, position, dataset));
            dir = d.commit();
        }
        return dir;
    }

    static String configJson(TrainConfig cfg, Model model, AdamW adam, long step, DataLoader.Position position,
                             Dataset dataset) throws IOException {
        ObjectNode root = TrainConfig.json().createObjectNode();
        root.put("format", FORMAT);
        root.put("version", VERSION);
        root.put("step", step);
        root.set("train", TrainConfig.json().valueToTree(cfg));
        ObjectNode m = root.putObject("model");
        m.put("preset", model.name());
        m.put("parameters", model.params().count());
        m.put("image_size", model.imageSize());
        m.put("channels", model.inChannels());
        m.put("num_classes", model.numClasses());
        if (model instanceof UNet u) m.set("config", TrainConfig.json().valueToTree(u.config().toMap()));
        ObjectNode s = root.putObject("schedule");
        s.put("beta_schedule", cfg.schedule);
        s.put("num_train_timesteps", cfg.timesteps);
        s.put("prediction_type", cfg.prediction);
        ObjectNode d = root.putObject("dataset");
        d.put("name", cfg.data);
        d.put("dir", cfg.dataDir);
        d.put("size", dataset.size());
        d.set("class_names", TrainConfig.json().valueToTree(dataset.classNames()));
        ObjectNode r = root.putObject("rng");
        r.put("generator", "philox4x32-10");
        r.put("seed", cfg.seed);
        r.put("scheme", "every draw of training step s is a function of (seed, s)");
        ObjectNode p = root.putObject("data_position");
        p.put("epoch", position.epoch());
        p.put("index", position.index());
        root.putObject("optimizer").put("step", adam.step());
        return TrainConfig.json().writeValueAsString(root);
    }

    /**
     * Resolves a user-given path to a checkpoint folder: a checkpoint folder itself, a run folder (its latest
     * checkpoint) or a {@code checkpoints} folder.
     *
     * @throws FileFormatException with a one-line message when nothing loadable is there
     */
    public static Path resolve(Path path) throws IOException {
        if (!Files.exists(path)) throw new FileFormatException("no such run or checkpoint: " + path);
        if (Files.isRegularFile(path.resolve(CONFIG))) return path;
        for (Path parent : new Path[] {path.resolve(DIR), path}) {
            Optional<Path> latest = Files.isDirectory(parent) ? AtomicDirectory.latest(parent) : Optional.empty();
            if (latest.isPresent()) return latest.get();
        }
        throw new FileFormatException(path + " holds no checkpoint (expected " + CONFIG + " or " + DIR + "/latest)");
    }

    /** Reads and checks config.json of a checkpoint folder. */
    public static Info readInfo(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) throw new FileFormatException("checkpoint " + dir + " has no " + CONFIG);
        JsonNode root;
        try {
            root = TrainConfig.json().readTree(file.toFile());
        } catch (IOException e) {
            throw new FileFormatException("corrupt " + file + ": " + oneLine(e));
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw new FileFormatException(file + " is not a diffusion4j checkpoint config");
        }
        JsonNode version = root.path("version");
        if (!version.canConvertToInt() || !version.isIntegralNumber() || version.asInt() < 1) {
            throw new FileFormatException("corrupt " + file + ": format version " + version + " is not a positive integer");
        }
        if (version.asInt() > VERSION) {
            throw new FileFormatException(file + " has format version " + version.asInt() + ", newer than this diffusion4j "
                    + "reads (" + VERSION + "): use a newer diffusion4j");
        }
        for (String obj : new String[] {"train", "model", "schedule", "dataset", "data_position", "optimizer"}) {
            if (!root.path(obj).isObject()) throw new FileFormatException("corrupt " + file + ": no \"" + obj + "\" object");
        }
        TrainConfig cfg;
        try {
            cfg = TrainConfig.json().treeToValue(root.path("train"), TrainConfig.class);
            cfg.validate(false);
        } catch (com.fasterxml.jackson.databind.JsonMappingException e) {
            // name the field: Jackson puts it on a later line of its message
            StringBuilder path = new StringBuilder("train");
            for (var ref : e.getPath()) if (ref.getFieldName() != null) path.append('.').append(ref.getFieldName());
            throw new FileFormatException("corrupt " + file + ": " + path + ": " + oneLine(new IOException(e.getOriginalMessage())));
        } catch (IOException | IllegalArgumentException e) {
            throw new FileFormatException("corrupt " + file + ": " + oneLine(e));
        }
        long step = integer(file, root, "step", 0, AdamW.MAX_STEPS);
        long adamStep = integer(file, root.path("optimizer"), "step", 0, step);
        JsonNode pos = root.path("data_position");
        long epoch = integer(file, pos, "epoch", 0, Long.MAX_VALUE);
        int index = (int) integer(file, pos, "index", 0, Integer.MAX_VALUE);
        int classes = (int) integer(file, root.path("model"), "num_classes", 0, 100_000);
        if (classes != cfg.numClasses && cfg.numClasses != 0) {
            throw new FileFormatException("corrupt " + file + ": model.num_classes " + classes + " but train.num_classes " + cfg.numClasses);
        }
        long parameters = integer(file, root.path("model"), "parameters", 0, Long.MAX_VALUE);
        java.util.List<String> names = new java.util.ArrayList<>();
        root.path("dataset").path("class_names").forEach(n -> names.add(n.asText()));
        return new Info(dir, cfg, step, adamStep, new DataLoader.Position(epoch, index), classes, names, parameters);
    }

    /** A required integer field of a config.json object, in [lo, hi]. */
    private static long integer(Path file, JsonNode obj, String field, long lo, long hi) {
        JsonNode v = obj.path(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new FileFormatException("corrupt " + file + ": " + field + " " + (v.isMissingNode() ? "is missing" : v + " is not an integer"));
        }
        long x = v.asLong();
        if (x < lo || x > hi) throw new FileFormatException("corrupt " + file + ": " + field + " " + x + " is out of range " + lo + ".." + hi);
        return x;
    }

    /** Builds the checkpoint's model (not yet allocated) and checks its parameter count. */
    public static Model buildModel(Info info) {
        TrainConfig c = info.config();
        Model m;
        try {
            m = c.createModel(info.numClasses());
        } catch (IllegalArgumentException e) {
            throw new FileFormatException("checkpoint " + info.dir().resolve(CONFIG) + " describes no buildable model: " + e.getMessage());
        }
        if (info.parameters() != 0 && m.params().count() != info.parameters()) {
            throw new FileFormatException("checkpoint " + info.dir() + " was written by a model with " + info.parameters()
                    + " parameters, but preset " + c.model + " now has " + m.params().count());
        }
        return m;
    }

    /** Loads weights ({@code ema} true: the EMA weights) into an allocated model. */
    public static void loadWeights(Info info, Model model, boolean ema) throws IOException {
        SafeTensors.load(info.dir().resolve(ema ? EMA : MODEL), model.params());
    }

    /** Restores model, EMA and optimizer state for an exact resume. */
    public static void restore(Info info, Model model, Ema ema, AdamW adam) throws IOException {
        ParamStore store = model.params();
        SafeTensors.load(info.dir().resolve(MODEL), store);
        SafeTensors.load(info.dir().resolve(EMA), store, ema.weights());
        Path optFile = info.dir().resolve(OPTIMIZER);
        SafeTensors.Contents opt = SafeTensors.read(optFile);
        Backend b = store.backend();
        try (var m = b.zeros(store.values().shape()); var v = b.zeros(store.values().shape())) {
            SafeTensors.copyInto(opt, optFile.toString(), store, m, "exp_avg.");
            SafeTensors.copyInto(opt, optFile.toString(), store, v, "exp_avg_sq.");
            adam.restore(info.adamStep(), m.toArray(), v.toArray());
        }
    }

    static String oneLine(Throwable e) {
        String s = e.getMessage() == null ? e.toString() : e.getMessage();
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
