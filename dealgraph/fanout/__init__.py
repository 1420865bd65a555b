"""Fan-out: how a committed run event reaches every process (PostgreSQL NOTIFY or Redis) and its subscribers."""
