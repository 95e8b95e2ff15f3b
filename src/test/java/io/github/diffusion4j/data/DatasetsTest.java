package io.github.diffusion4j.data;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class DatasetsTest {
    @Test void opensShapesWithoutADirectory() {
        Dataset train = Datasets.open("shapes", null, 24);
        assertEquals(ShapesDataset.DEFAULT_SIZE, train.size());
        assertEquals(24, train.imageSize());
        assertEquals(3, train.numClasses());
        Dataset test = Datasets.open("shapes", null, 24, false);
        assertFalse(java.util.Arrays.equals(train.image(0), test.image(0)));
    }

    @Test void unknownNamesAndMissingDirectoriesAreClearErrors() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.open("imagenet", null, 32));
        assertTrue(e.getMessage().contains("unknown dataset 'imagenet'") && e.getMessage().contains("fashion-mnist"));
        assertThrows(DatasetException.class, () -> Datasets.open("cifar10", null, 32));
        DatasetException d = assertThrows(DatasetException.class, () -> Datasets.open("mnist", Path.of("/nonexistent/mnist"), 32));
        assertTrue(d.getMessage().contains("/nonexistent/mnist"), d.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Datasets.open("shapes", null, 0));
    }
}
