"""Reference `nn.Module`s of the family units (torch): what the probe builds when a spec names
no factory. Each is built from spec fields only, so that the unit's `param_shapes` and
`forward_saved` can describe exactly its tensors. Imported lazily by the units."""
