"""Feature visualisation: activation maximisation of VGG-16 (lucid-style and Despraz et al.)."""
