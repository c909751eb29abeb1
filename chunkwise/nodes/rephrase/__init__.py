"""Nodes of the rephrase pipeline: plan the parts, rewrite one part per step, stitch."""
