"""Two clusters and MirrorMaker 2: a replica cluster beside the run's own (the primary),
MirrorMaker 2 replicating the primary's topics and consumer groups to it, and the judgement of
what reached the replica (every acknowledged write; a consumer failing over with translated
offsets)."""
