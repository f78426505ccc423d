"""Paper result 'fig5', computed from the model; writes fig5.png/.pdf/.h5 and summary.json to validation/out/fig5."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig5"], out="validation/out/fig5")["fig5"])
