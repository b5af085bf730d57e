"""Worker processes: running work over files on every core, and children that die with their parent."""
