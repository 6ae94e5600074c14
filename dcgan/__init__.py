"""DCGAN on art (Beyers & Loane): models, tfds input, training, analyses."""
