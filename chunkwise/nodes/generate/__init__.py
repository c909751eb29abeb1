"""Nodes of the generate graph: plan, write/review/record each section, consistency, QC."""
