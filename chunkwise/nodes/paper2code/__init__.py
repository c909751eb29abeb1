"""paper2code nodes: load -> split -> summarize (fan-out) -> assess -> combine/collapse ->
datasets -> code -> finalize."""
