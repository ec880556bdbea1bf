"""Data-plane backends: how traffic meets the control plane's state."""
