"""The four agents: what each is asked (instructions), what it answers (output models) and how its evidence is checked."""
