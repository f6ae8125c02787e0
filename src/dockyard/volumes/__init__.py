"""Volumes, bind mounts and tmpfs (S8-S10): spec parsing, the local driver, populate."""
