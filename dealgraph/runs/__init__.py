"""The run engine: job pools that claim agent runs, execute them, hold their leases and report progress."""
