"""From a validated spec to artifacts: overrides, interpolation, the Fiddle graph, exports."""
