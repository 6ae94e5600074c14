"""Scripts that launch sweeps and training on Cloud TPU VMs (every script has --dry_run)."""
