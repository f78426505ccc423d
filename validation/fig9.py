"""Paper result 'fig9', computed from the model; writes fig9.png/.pdf/.h5 and summary.json to validation/out/fig9."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig9"], out="validation/out/fig9")["fig9"])
