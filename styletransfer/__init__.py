"""VGG-16/19 in Flax and Gatys et al. neural style transfer driven by optax."""
