"""vmbh image builder: Debian kernel + hyperv-daemons packages -> kernel + initramfs."""
