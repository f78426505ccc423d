"""Paper result 'fig2', computed from the model; writes fig2.png/.pdf/.h5 and summary.json to validation/out/fig2."""
from cimqb_traj.paper import reproduce

print(reproduce(only=["fig2"], out="validation/out/fig2")["fig2b"])
