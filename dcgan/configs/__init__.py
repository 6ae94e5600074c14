"""ml_collections config files for ``python -m dcgan.main --config=dcgan/configs/<x>.py``."""
